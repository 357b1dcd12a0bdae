# The Debian packages CI needs, one list per step (sourced by .ci/run, .ci/e2e.sh and
# .ci/package.sh): .ci/run installs them all in one apt-get run in the background while clippy
# compiles; each step still installs what it lacks when run on its own.
# shellcheck disable=SC2034  # the arrays are used by the scripts that source this file

# cargo test: the SDK proof's venv, Mesa's lavapipe for the window's image snapshots, and
# system fonts with Traditional Chinese, Japanese, Korean, Greek and Arabic so the test of names
# in many scripts checks the fallback instead of saying "not checked".
TEST_PACKAGES=(python3-venv mesa-vulkan-drivers libvulkan1 fontconfig fonts-wqy-microhei
  fonts-dejavu-core)
# .ci/e2e.sh: the X server, the drag and clipboard helpers, then what the window loads at run
# time (winit opens the X11 libraries with dlopen, glow draws through Mesa's EGL/GL in software
# under Xvfb). python3-pil takes the screenshot a failing run leaves (E2E_KEEP=1 keeps it).
E2E_PACKAGES=(xvfb xdotool x11-utils xclip curl python3-gi gir1.2-gtk-3.0 python3-pil
  libegl1 libgl1-mesa-dri libxkbcommon-x11-0 libxcursor1 libxrandr2 libxi6)
# .ci/package.sh: the validators and what cargo-deb runs (dpkg-shlibdeps for `$auto`, strip).
PACKAGE_PACKAGES=(desktop-file-utils appstream dpkg-dev binutils curl)

# Prints the packages of "$@" that are not installed.
missing_packages() {
  local p
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || echo "$p"
  done
}
