//! SHIM (branch `app` only): the colleague's app icon replaces this file on merge.

/// A plain blue square with a white upward arrow.
pub fn icon() -> egui::IconData {
    const N: u32 = 64;
    let mut rgba = Vec::with_capacity((N * N * 4) as usize);
    for y in 0..N {
        for x in 0..N {
            let dx = (x as i32 - 32).abs();
            let head = y > 12 && y < 32 && dx < (y as i32 - 12);
            let shaft = (32..52).contains(&y) && dx < 6;
            let px = if head || shaft {
                [255, 255, 255, 255]
            } else {
                [36, 110, 220, 255]
            };
            rgba.extend_from_slice(&px);
        }
    }
    egui::IconData {
        rgba,
        width: N,
        height: N,
    }
}
