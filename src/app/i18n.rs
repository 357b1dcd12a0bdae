//! Every string the window shows, in English and Chinese side by side, and the choice of language
//! (the system's by default, or the one picked in the settings). `{name}` marks a value filled in
//! with `str::replace`.

use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use crate::text::Lang;

/// The language setting as saved.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LanguageChoice {
    #[default]
    System,
    English,
    Chinese,
}

impl LanguageChoice {
    /// The language this choice means on this computer.
    pub fn resolve(self) -> Lang {
        match self {
            LanguageChoice::English => Lang::En,
            LanguageChoice::Chinese => Lang::Zh,
            LanguageChoice::System => Lang::from_system(),
        }
    }
}

macro_rules! strings {
    ($($key:ident: $en:expr, $zh:expr;)*) => {
        /// The window's strings in one language.
        pub struct Tr {
            $(pub $key: &'static str,)*
        }

        static EN: Tr = Tr { $($key: $en,)* };
        static ZH: Tr = Tr { $($key: $zh,)* };
    };
}

impl Tr {
    /// A time left, to the second below an hour and to the minute above:
    /// `1 h 05 min`, `3 min 20 s`, `12 s` (`1 小时 5 分`, `3 分 20 秒`, `12 秒`).
    pub fn duration(&self, d: Duration) -> String {
        let total = d.as_secs();
        let (h, m, s) = (total / 3600, total % 3600 / 60, total % 60);
        let template = if h > 0 {
            self.dur_hours
        } else if m > 0 {
            self.dur_minutes
        } else {
            self.dur_seconds
        };
        template
            .replace("{h}", &h.to_string())
            .replace("{mm}", &format!("{m:02}"))
            .replace("{m}", &m.to_string())
            .replace("{ss}", &format!("{s:02}"))
            .replace("{s}", &s.to_string())
    }
}

impl Tr {
    /// The language of this table, for messages that come with both (the engine's errors).
    pub fn lang(&self) -> Lang {
        if std::ptr::eq(self, &ZH) {
            Lang::Zh
        } else {
            Lang::En
        }
    }
}

/// The strings for `lang`.
pub fn tr(lang: Lang) -> &'static Tr {
    match lang {
        Lang::En => &EN,
        Lang::Zh => &ZH,
    }
}

strings! {
    app_name: "OSS Uploader", "OSS 上传工具";
    menu_file: "File", "文件";
    add_files: "Add files…", "添加文件…";
    add_files_tip: "Choose files to upload ({shortcut}). You can also drag files onto the window.", "选择要上传的文件（{shortcut}）。也可以把文件拖到窗口里。";
    add_folder: "Add folder…", "添加文件夹…";
    add_folder_tip: "Choose a folder: every file in it and in its subfolders is uploaded, keeping the folder structure.", "选择一个文件夹：其中及子文件夹里的所有文件都会上传，并保留文件夹结构。";
    open_log_folder: "Open log folder", "打开日志文件夹";
    quit: "Quit", "退出";
    settings: "Settings", "设置";
    dismiss: "Dismiss", "关闭提示";
    demo_badge: "DEMO — files go to a test server on this computer", "演示模式 — 文件上传到本机的测试服务器";
    demo_badge_tip: "Started with --demo: nothing leaves this computer and no account is needed.", "以 --demo 启动：文件不会离开本机，也不需要账号。";
    demo_settings_note: "Demo mode: these settings point at the test server on this computer and are not saved.", "演示模式：这些设置指向本机的测试服务器，不会被保存。";

    pause_all: "Pause all", "全部暂停";
    pause_all_tip: "Stop sending for now; nothing already sent is lost.", "暂时停止发送，已发送的部分不会丢失。";
    resume_all: "Resume all", "全部继续";
    resume_all_tip: "Continue every paused or interrupted upload from where it stopped.", "从中断处继续所有已暂停或被中断的上传。";
    clear_finished: "Clear finished", "清除已完成";
    clear_finished_tip: "Remove finished, skipped and cancelled uploads from the list (the files in the bucket stay).", "从列表中移除已完成、已跳过和已取消的上传（存储空间中的文件保留）。";
    destination: "Files go to", "上传到";
    empty_title: "Drop files or folders here", "把文件或文件夹拖到这里";
    empty_hint: "or use Add files… / Add folder… above. Uploads continue where they stopped, even after a crash.", "或使用上方的“添加文件…”/“添加文件夹…”。即使程序崩溃，上传也会从中断处继续。";
    banner: "{n} uploads did not finish last time. They continue from where they stopped.", "上次有 {n} 个上传未完成，可从中断处继续。";
    banner_resume_tip: "Continue the unfinished uploads now.", "现在继续未完成的上传。";
    not_now: "Not now", "暂不";

    col_name: "Name", "名称";
    col_size: "Size", "大小";
    col_key: "Name in bucket", "存储路径";
    col_progress: "Progress", "进度";
    col_speed: "Speed", "速度";
    col_eta: "Time left", "剩余时间";
    col_state: "State", "状态";
    col_actions: "Actions", "操作";

    st_queued: "Waiting", "等待中";
    st_uploading: "Uploading", "上传中";
    st_waiting: "Waiting for network", "等待网络";
    st_paused: "Paused", "已暂停";
    st_interrupted: "Interrupted", "已中断";
    st_verifying: "Verifying", "校验中";
    st_done: "Done (verified)", "完成（已校验）";
    st_unverified: "Done (not verified)", "完成（未校验）";
    st_skipped: "Skipped (already there)", "已跳过（已存在）";
    st_failed: "Failed", "失败";
    st_cancelled: "Cancelled", "已取消";

    pause: "Pause", "暂停";
    pause_tip: "Stop sending this file for now; it continues where it stopped.", "暂停此文件，之后从中断处继续。";
    resume: "Resume", "继续";
    resume_tip: "Continue from where it stopped.", "从中断处继续。";
    retry: "Retry", "重试";
    retry_tip: "Try this upload again, keeping what was already sent when possible.", "重新上传，尽可能保留已发送的部分。";
    cancel: "Cancel", "取消";
    cancel_tip: "Stop this upload (it asks first). What was sent is kept until you remove the row, so Retry continues from there.", "停止此上传（会先确认）。已发送的部分会保留到您移除此行为止，因此“重试”可以从中断处继续。";
    cancel_title: "Cancel this upload?", "取消此上传？";
    cancel_body: "{name} stops uploading. The {sent} already sent stay on the server until you remove the row, so Retry continues from there.", "{name} 将停止上传。已发送的 {sent} 会保留在服务器上，直到您移除此行，因此“重试”可以从中断处继续。";
    cancel_confirm: "Cancel upload", "取消上传";
    retry_kept_tip: "Continue this upload from the parts already sent.", "从已发送的部分继续上传。";
    remove: "Remove", "移除";
    remove_tip: "Take this row off the list (Delete key).", "从列表中移除此行（Delete 键）。";
    remove_kept_tip: "Take this row off the list and throw away the parts already sent (Delete key).", "从列表中移除此行，并丢弃已发送的部分（Delete 键）。";
    remove_sent_title: "Throw away what was sent?", "丢弃已发送的部分？";
    remove_sent_body: "{name}: the {sent} already sent will be deleted from the bucket, and uploading it again starts from the beginning.", "{name}：已发送的 {sent} 将从存储空间中删除，再次上传需要从头开始。";
    remove_sent_body_many: "{n} unfinished uploads: the {sent} already sent will be deleted from the bucket, and uploading them again starts from the beginning.", "{n} 个未完成的上传：已发送的 {sent} 将从存储空间中删除，再次上传需要从头开始。";
    remove_sent_confirm: "Remove and delete what was sent", "移除并删除已发送的部分";
    remove_sent_keep: "Keep", "保留";
    rename: "Rename", "重命名";
    rename_tip: "Change the name in the bucket; possible until the upload starts.", "修改在存储空间中的名称；在开始上传前都可以修改。";
    rename_title: "Name in the bucket", "在存储空间中的名称";
    rename_too_late: "The upload had already started, so its name stays.", "上传已经开始，名称保持不变。";
    st_cancelled_kept: "Cancelled (sent parts kept)", "已取消（已发送部分保留）";

    filter_all: "All", "全部";
    filter_active: "Active", "进行中";
    filter_failed: "Failed", "失败";
    filter_done: "Done", "已完成";
    filter_tip: "Show only these rows.", "只显示这些行。";
    hide_finished: "Hide finished ({n})", "隐藏已完成（{n}）";
    hide_finished_tip: "Fold away the rows that are done, so the ones still uploading stay in view.", "收起已完成的行，让仍在上传的行保持可见。";
    nothing_in_filter: "No uploads here.", "这里没有上传。";
    copy_link: "Copy link", "复制链接";
    link_copied: "Link copied.", "链接已复制。";
    share_link_copied: "Link copied: anyone with it can download the file for 7 days.", "链接已复制：任何拿到它的人在 7 天内都能下载该文件。";
    link_copied_until: "Link copied: anyone with it can download the file until {when}.", "链接已复制：任何拿到它的人在 {when} 之前都能下载该文件。";
    share: "Share…", "分享…";
    share_tip: "A link to this file that anyone can open, for as long as you choose.", "生成一个任何人都能打开的文件链接，有效期由您选择。";
    share_title: "Share “{name}”", "分享“{name}”";
    share_valid_for: "The link works for", "链接有效期";
    expiry_hour: "1 hour", "1 小时";
    expiry_day: "1 day", "1 天";
    expiry_week: "7 days (the longest OSS allows)", "7 天（OSS 允许的最长期限）";
    expiry_never: "Always (the file is public)", "永久（文件是公开的）";
    expiry_never_tip: "Anyone may read this file without a signature (its bucket or the file is public), so its plain address works for as long as the file is there.", "任何人无需签名即可读取此文件（其存储空间或文件是公开的），所以只要文件还在，它的普通地址就一直有效。";
    expiry_never_download: "Saving under the file's name takes a signed link, which expires.", "以文件名下载需要带签名的链接，它会过期。";
    share_public: "The file is public: this address works for anyone, with no expiry.", "文件是公开的：任何人都能打开此地址，不会过期。";
    qr_code: "QR code", "二维码";
    qr_code_tip: "Shows the link as a QR code instead of text, to open it on a phone.", "以二维码代替文字显示链接，方便用手机打开。";
    qr_too_long: "This link is too long for a QR code.", "此链接太长，无法生成二维码。";
    share_download: "Download as “{name}” instead of opening in the browser", "下载为“{name}”，而不是在浏览器中打开";
    share_until: "Anyone with this link can download the file until {when}.", "任何拿到此链接的人在 {when} 之前都能下载该文件。";
    share_plain: "No key to sign a link with: this is the file's plain address, which opens only if the bucket is public.", "没有可用于签名的密钥：这是文件的普通地址，仅当存储空间为公共读时才能打开。";
    share_no_link: "No link can be made for this file (its address is not valid).", "无法为此文件生成链接（地址无效）。";
    details: "Details", "详情";
    copy_details: "Copy details", "复制详情";
    err_code: "Error code", "错误码";
    err_ec: "EC", "EC";
    err_request: "Request ID", "请求 ID";
    job_gone: "This upload is no longer in the list.", "此上传已不在列表中。";
    close: "Close", "关闭";
    browser: "Browse…", "浏览…";
    browser_tip: "See the folders in the bucket and choose one, or make a new one.", "查看存储空间中的文件夹并从中选择，或新建一个。";
    browser_needs_bucket: "Type the AccessKey and the bucket first.", "请先填写 AccessKey 和存储空间。";
    browser_needs_key: "No AccessKey to look into the bucket with: open Settings first.", "没有可用于查看存储空间的 AccessKey：请先打开设置。";
    browser_pick_title: "Choose the folder to upload to", "选择上传到的文件夹";
    browser_look_title: "In the bucket", "存储空间中的内容";
    browser_up: "Up", "上一级";
    browser_up_tip: "The folder this one is in.", "返回上一级文件夹。";
    browser_count: "Folders: {folders}   Files: {files}", "文件夹：{folders}   文件：{files}";
    browser_listing: "Listing… {count} so far", "正在列出……目前 {count}";
    browser_empty: "This folder is empty.", "此文件夹是空的。";
    browser_retry: "Retry", "重试";
    browser_denied: "This key may not list what is in the bucket. Ask the account owner for list permission, or type the folder by hand.", "此密钥无权列出存储空间中的内容。请向账号所有者申请列出权限，或手动填写文件夹。";
    browser_name: "Name", "名称";
    browser_modified: "Last modified (UTC)", "修改时间（UTC）";
    browser_folder: "Folder", "文件夹";
    browser_open_tip: "Open this folder.", "打开此文件夹。";
    browser_new_folder: "New folder…", "新建文件夹…";
    browser_new_folder_tip: "Make a folder here and go into it.", "在此处新建文件夹并进入。";
    browser_folder_name: "Folder name", "文件夹名称";
    browser_folder_hint: "e.g. Holiday 2024", "例如：2024 假期";
    browser_create: "Create", "创建";
    browser_choose: "Choose this folder", "选择此文件夹";
    browser_choose_tip: "Upload into the folder shown here.", "上传到当前显示的文件夹。";
    browser_goes_to: "Files will go to {target}", "文件将上传到 {target}";
    show_in_bucket: "In bucket", "查看位置";
    show_in_bucket_tip: "Show in bucket: this file in its folder, with what else is there.", "在存储空间中查看：此文件所在的文件夹及其中的其他内容。";
    folder_name_empty: "Type a name for the folder.", "请输入文件夹名称。";
    folder_name_slash: "A folder name cannot contain “/” or “\\”.", "文件夹名称不能包含“/”或“\\”。";
    folder_name_dots: "“.” and “..” cannot be used as folder names.", "“.” 和 “..” 不能用作文件夹名称。";
    folder_name_long: "The name is too long: a name in the bucket may have at most 1,023 bytes.", "名称太长：存储空间中的名称最多 1023 字节。";

    status_files: "{done} of {total} files done", "已完成 {done}/{total} 个文件";
    status_bytes: "{done} of {total}", "{done} / {total}";
    status_eta: "about {eta} left", "约剩 {eta}";
    // Durations: {mm} and {ss} are zero-padded so a ticking ETA keeps its width in English;
    // Chinese reads more naturally without padding.
    dur_hours: "{h} h {mm} min", "{h} 小时 {m} 分";
    dur_minutes: "{m} min {ss} s", "{m} 分 {s} 秒";
    dur_seconds: "{s} s", "{s} 秒";
    status_failed: "{n} failed", "{n} 个失败";
    status_walking: "Adding files… {n} found", "正在添加文件… 已找到 {n} 个";
    status_connections: "{n} connections", "{n} 个连接";
    drop_here: "Drop to upload {n} items to oss://{target}", "松开即可上传 {n} 项到 oss://{target}";
    drop_here_one: "Drop to upload it to oss://{target}", "松开即可上传到 oss://{target}";
    drop_blocked: "Finish the setup first, then drop the files again.", "请先完成设置，然后再拖入文件。";
    finish_setup_first: "Finish the setup first, then add the files again.", "请先完成设置，然后再添加文件。";
    no_dialog: "No file dialog can be opened on this computer. Drag files or folders onto the window instead.", "此电脑无法打开文件选择窗口。请把文件或文件夹直接拖到窗口里。";
    nothing_to_add: "No files were found in what was added.", "所添加的内容中没有找到文件。";
    missing: "Not found (moved or deleted?), so not added: {names}", "未找到（已被移动或删除？），未添加：{names}";
    unreadable: "Could not be read (check their permissions), so not added: {names}", "无法读取（请检查权限），未添加：{names}";
    left_out: "{n} items are not regular files (pipes, sockets, devices) or have names that are not valid text, and were left out: {names}", "有 {n} 项不是普通文件（管道、套接字、设备）或名称不是有效文本，已略过：{names}";
    open_failed: "The log folder could not be opened. It is here: {dir}", "无法打开日志文件夹。它位于：{dir}";

    name_in_bucket: "Name in the bucket:", "在存储空间中的名称：";
    name_in_bucket_tip: "Where the file goes in the bucket. Use / to put it in a folder.", "文件在存储空间中的位置。用 / 表示文件夹。";

    notify_all_uploaded: "All {n} uploaded", "全部 {n} 个文件已上传";
    notify_one_uploaded: "{name} uploaded", "{name} 已上传";
    notify_all_done: "All {n} done: {uploaded} uploaded, {skipped} already there", "全部 {n} 个已处理：{uploaded} 个已上传，{skipped} 个已存在";
    notify_failed: "{n} failed: {reason}", "{n} 个失败：{reason}";
    notify_failed_body: "{uploaded} of {files} uploaded. {name}: open the window for details.", "已上传 {uploaded}/{files} 个。{name}：打开窗口查看详情。";
    notify_done_body: "Verified in oss://{target}", "已校验，位于 oss://{target}";
    notify_unverified_body: "In oss://{target}; {n} of them could not be verified", "位于 oss://{target}；其中 {n} 个无法校验";
    awake_reason: "Uploading files", "正在上传文件";

    quit_title: "Uploads are still running", "仍有上传在进行";
    quit_body: "If you quit now, the uploads stop and continue from where they stopped the next time you open the app.", "如果现在退出，上传会停止，下次打开程序时从中断处继续。";
    quit_anyway: "Quit (continue next time)", "退出（下次继续）";
    keep_uploading: "Keep uploading", "继续上传";

    welcome_title: "Welcome! Let's connect to your storage", "欢迎！先连接到您的存储空间";
    welcome_body: "Enter the details from your Alibaba Cloud console once. You can change them later in Settings.", "只需填写一次阿里云控制台中的信息，之后可在“设置”中修改。";
    section_account: "Account and bucket", "账号与存储空间";
    section_upload: "Uploads", "上传";
    region: "Region", "地域";
    region_tip: "Where your bucket is. It is shown on the bucket's overview page in the Alibaba Cloud console.", "存储空间所在的地域，可在阿里云控制台存储空间的概览页看到。";
    custom_endpoint: "Use another address (endpoint)", "使用其他地址（Endpoint）";
    custom_endpoint_tip: "Only for special cases: an internal network, a custom domain or a test server. The region is still needed for signing.", "仅用于特殊情况：内网、自定义域名或测试服务器。签名仍需要地域。";
    path_style: "Bucket name in the path", "存储空间名放在路径中";
    path_style_tip: "For IP addresses and test servers that cannot use bucket.host addresses.", "用于不支持 bucket.host 形式地址的 IP 地址和测试服务器。";
    region_search: "Search: city, country or id", "搜索：城市、国家或 ID";
    region_none: "No region matches.", "没有匹配的地域。";
    where_key: "Where do I find my AccessKey?", "在哪里找到 AccessKey？";
    where_key_tip: "Opens the AccessKey page of the Alibaba Cloud RAM console in the browser.", "在浏览器中打开阿里云 RAM 控制台的 AccessKey 页面。";
    key_id: "AccessKey ID", "AccessKey ID";
    key_id_tip: "The ID of your access key (RAM console → AccessKey). It starts with LTAI for permanent keys or STS for temporary ones.", "访问密钥的 ID（RAM 控制台 → AccessKey）。长期密钥以 LTAI 开头，临时密钥以 STS 开头。";
    secret: "AccessKey secret", "AccessKey Secret";
    secret_tip: "The secret that belongs to the key. It is kept in the system keychain, or where you choose; never in a log.", "与密钥配套的 Secret。它保存在系统钥匙串或您选择的位置，绝不会写入日志。";
    use_sts: "Temporary key (STS token)", "临时密钥（STS Token）";
    sts_tip: "Tick this when you were given a security token together with the key; it expires after a while.", "如果您拿到的密钥附带安全令牌（Security Token），请勾选；令牌会过期。";
    sts_token: "Security token", "安全令牌";
    bucket: "Bucket", "存储空间（Bucket）";
    bucket_tip: "The bucket's name: 3–63 lowercase letters, digits and '-'.", "存储空间名称：3–63 个小写字母、数字或“-”。";
    test_connection: "Test connection", "测试连接";
    test_connection_tip: "Checks the address, the key and the bucket without uploading anything.", "检查地址、密钥和存储空间，不会上传任何内容。";
    testing: "Testing…", "正在测试…";
    test_ok: "Connected: the key works and the bucket is reachable.", "连接成功：密钥有效，存储空间可访问。";
    test_can: "This key can {what}.", "此密钥可以{what}。";
    test_cannot: "It cannot {what}.", "不能{what}。";
    can_upload: "upload files here", "上传文件到这里";
    can_read: "read files", "读取文件";
    can_list: "list the bucket's files", "列出存储空间中的文件";
    can_list_buckets: "list your buckets", "列出您的存储空间";
    list_comma: ", ", "、";
    list_and: " and ", "和";
    list_or: " or ", "或";
    test_wrong_key: "The AccessKey ID is not recognised. Check that it was copied completely.", "无法识别 AccessKey ID，请检查是否完整复制。";
    test_wrong_secret: "The AccessKey secret is wrong (it is case-sensitive).", "AccessKey Secret 不正确（区分大小写）。";
    test_token: "The temporary token has expired or is wrong. Get a new one.", "临时令牌已过期或不正确，请重新获取。";
    test_key_disabled: "This AccessKey is disabled. Enable it in the console or use another key.", "此 AccessKey 已被禁用。请在控制台启用或使用其他密钥。";
    test_no_bucket: "There is no bucket with this name in this region. Check the name and the region.", "此地域中没有该名称的存储空间，请检查名称和地域。";
    test_no_permission: "The key works but may not use this bucket. Ask the account owner for upload permission.", "密钥有效，但无权使用此存储空间。请向账号所有者申请上传权限。";
    test_clock: "This computer's clock is wrong. Set the date and time correctly, then test again.", "此电脑的时钟不准确。请校准日期和时间后再测试。";
    test_no_network: "The storage service cannot be reached. Check the internet connection and the address.", "无法连接存储服务。请检查网络连接和地址。";
    test_timeout: "The storage service did not answer in time. The network may be slow; try again.", "存储服务没有及时响应，网络可能较慢，请重试。";
    test_certificate: "The secure connection failed (certificate problem). Check the address and the computer's date; a proxy may interfere.", "安全连接失败（证书问题）。请检查地址和电脑日期，可能是代理干扰。";
    choose_bucket: "Choose from my buckets", "从我的存储空间中选择";
    choose_bucket_tip: "Lists the buckets this AccessKey can see, with their regions. Picking one fills in the bucket and its region.", "列出此 AccessKey 能看到的存储空间及其地域。选择一个即可自动填写存储空间和地域。";
    choose_bucket_needs_key: "Enter the AccessKey ID and secret first.", "请先填写 AccessKey ID 和 Secret。";
    listing_buckets: "Listing your buckets…", "正在列出您的存储空间…";
    no_buckets: "This key sees no buckets. Type the bucket name above.", "此密钥看不到任何存储空间。请在上方填写存储空间名称。";
    list_denied: "This key cannot list buckets; type the bucket name above, then press Find its region.", "此密钥无权列出存储空间，请在上方填写存储空间名称，然后点击“查找其地域”。";
    find_region: "Find its region", "查找其地域";
    find_region_tip: "Asks OSS which region the bucket named above is in, and sets it. For keys that cannot list buckets.", "向 OSS 查询上方存储空间所在的地域并自动设置。适用于无权列出存储空间的密钥。";
    finding_region: "Finding the bucket…", "正在查找存储空间…";
    locate_no_bucket: "No bucket has this name. Check its spelling.", "没有该名称的存储空间，请检查拼写。";
    locate_denied: "This key may not ask where the bucket is: choose its region above.", "此密钥无权查询存储空间所在地域，请在上方选择地域。";
    region_found: "\"{name}\" is in {region}; the region is set.", "“{name}”位于{region}，已设置地域。";
    bucket_region_unknown: "Could not tell which region \"{name}\" is in: choose its region above.", "无法确定“{name}”所在的地域，请在上方选择地域。";

    prefix: "Folder in the bucket", "存储空间中的文件夹";
    prefix_hint: "e.g. photos/2024 (empty: top level)", "例如 photos/2024（留空：根目录）";
    prefix_tip: "Files are uploaded under this folder, followed by their path relative to what you added.", "文件会上传到此文件夹下，后接相对于所添加内容的路径。";
    existing: "If the name is taken", "同名文件已存在时";
    existing_tip: "What to do when the bucket already has a file with the same name.", "存储空间中已有同名文件时如何处理。";
    overwrite: "Replace it", "覆盖";
    skip: "Skip the file", "跳过";
    keep_both: "Keep both", "保留两者";
    skip_identical: "Skip if identical", "内容相同则跳过";
    skip_identical_tip: "Skip a file when the bucket already has the same content under its name (same size and CRC-64 checksum); upload it when it differs. Dropping the same folder again uploads only new and changed files.", "存储空间中同名文件的内容与本地相同（大小和 CRC-64 校验值一致）时跳过，不同则上传。再次拖入同一文件夹时只上传新增和修改过的文件。";
    part_size: "Part size", "分片大小";
    part_size_tip: "Big files are sent in parts; an interrupted upload only resends the unfinished parts. Leave it empty and the app chooses: 8 MiB, or bigger parts for big files on a fast connection. OSS accepts parts from 100 KiB to 5 GiB and at most 10,000 parts per file; e.g. 8 MiB, 512 KiB, 1 GiB.", "大文件分片发送，中断后只需重发未完成的分片。留空则由应用选择：8 MiB，网络快时大文件用更大的分片。OSS 允许分片大小为 100 KiB 到 5 GiB，每个文件最多 10,000 片；例如 8 MiB、512 KiB、1 GiB。";
    part_size_auto: "automatic (8 MiB or more)", "自动（8 MiB 或更大）";
    advanced: "Advanced", "高级";
    automatic: "Choose how many at once automatically (recommended)", "自动决定同时发送的数量（推荐）";
    automatic_tip: "The app measures what your connection carries and sends as many files and parts at once as it can: it starts with {start} requests and grows up to {max} while uploads get faster, and backs off when the network or the server struggles.", "应用会测量网络的承载能力，尽可能同时发送更多文件和分片：从 {start} 个请求开始，上传变快时逐步增加到最多 {max} 个，网络或服务器吃力时自动减少。";
    threads: "Parts at once per file", "每个文件并发分片数";
    threads_tip: "How many parts of one file are sent at the same time. More can be faster on a good connection.", "同一文件同时发送的分片数。网络好时多一些可能更快。";
    jobs: "Files at once", "同时上传的文件数";
    jobs_tip: "How many files upload at the same time.", "同时上传的文件数量。";
    bandwidth: "Speed limit", "限速";
    bandwidth_tip: "Keep some of your connection free for other things, e.g. 2 MiB (per second, all uploads together). Empty: no limit.", "为其他用途留出带宽，例如 2 MiB（每秒，所有上传合计）。留空表示不限速。";
    unlimited: "no limit", "不限速";
    keep_awake: "Keep the computer awake while uploading", "上传时保持电脑不休眠";
    keep_awake_tip: "Asks the system not to sleep while files upload; paused or finished uploads let it sleep again.", "上传期间请求系统不要休眠；上传暂停或完成后恢复正常。";
    notify: "Notify when uploads finish or fail", "上传完成或失败时通知";
    notify_tip: "A desktop notification when a batch of uploads is done, or when one needs you.", "一批上传完成或需要您处理时，显示桌面通知。";
    language: "Language", "语言";
    language_tip: "The language of the window. \"System\" follows the computer's setting.", "窗口语言。“跟随系统”表示使用电脑的设置。";
    lang_system: "System", "跟随系统";
    fix_above: "Please fix the fields marked above.", "请修正上面标出的项目。";
    save: "Save", "保存";
    save_continue: "Save and continue", "保存并继续";

    need_endpoint: "Enter the address (endpoint), or untick \"Use another address\".", "请填写地址（Endpoint），或取消勾选“使用其他地址”。";
    need_key_id: "Enter the AccessKey ID.", "请填写 AccessKey ID。";
    need_bucket: "Enter the bucket's name.", "请填写存储空间名称。";
    need_secret: "Enter the AccessKey secret.", "请填写 AccessKey Secret。";
    not_a_size: "Write a size such as 8 MiB, 512 KiB or 1 GiB.", "请填写大小，例如 8 MiB、512 KiB 或 1 GiB。";
    not_a_speed: "Write a speed such as 2 MiB (per second), or leave it empty for no limit.", "请填写速度，例如 2 MiB（每秒），留空表示不限速。";
    threads_range: "Use a whole number from 1 to {max}.", "请填写 1 到 {max} 之间的整数。";
    jobs_range: "Use a whole number from 1 to {max}.", "请填写 1 到 {max} 之间的整数。";
    bad_bucket: "The bucket name \"{name}\" is not valid: use 3 to 63 lowercase letters, digits and '-', not starting or ending with '-'.", "存储空间名称“{name}”无效：请使用 3–63 个小写字母、数字或“-”，且不能以“-”开头或结尾。";
    bad_part_size: "The part size {size} is outside what OSS allows: from 100 KiB to 5 GiB.", "分片大小 {size} 超出 OSS 允许的范围：100 KiB 到 5 GiB。";
    bad_endpoint: "The address \"{name}\" is not valid. Use a form like oss-cn-hangzhou.aliyuncs.com.", "地址“{name}”无效。请使用类似 oss-cn-hangzhou.aliyuncs.com 的格式。";
    region_needed: "Choose the region for the address \"{name}\".", "请为地址“{name}”选择地域。";
    bad_key: "The name is not valid: it must not be empty, must not start with / and must be at most 1023 bytes.", "名称无效：不能为空、不能以 / 开头，且不超过 1023 字节。";

    secret_needed_again: "Enter the AccessKey secret again: it was kept for the last session only.", "请重新输入 AccessKey Secret：上次仅在当次会话中保存。";
    secret_where_title: "Where should the secret be kept?", "Secret 保存在哪里？";
    secret_where_body: "This computer has no system keychain. You can keep the secret until the app closes, or save it in a file that only your user account can read.", "此电脑没有系统钥匙串。您可以只在本次运行期间保留 Secret，或把它保存在只有您的用户账号能读取的文件中。";
    secret_session: "Keep for this session only", "仅本次使用";
    secret_session_tip: "You will type the secret again next time.", "下次需要重新输入 Secret。";
    secret_file: "Save in a private file", "保存到私有文件";
    secret_file_tip: "Saved in {file}, readable only by you.", "保存在 {file}，只有您能读取。";
    secret_in_keychain: "The secret is saved in the system keychain.", "Secret 已保存到系统钥匙串。";
    secret_in_file: "The secret is saved in {file} (only you can read it).", "Secret 已保存到 {file}（只有您能读取）。";
    secret_for_session: "The secret is kept until the app closes; it was not saved.", "Secret 仅保留到程序关闭，未保存。";
    secret_file_failed: "The secret could not be saved ({error}); it is kept until the app closes.", "Secret 无法保存（{error}），仅保留到程序关闭。";
    settings_not_saved: "The settings could not be saved ({error}). They apply until the app closes.", "设置无法保存（{error}），仅在本次运行期间有效。";
    // Several connections (accounts).
    connection: "Connection", "连接";
    connection_tip: "Which of your connections (AccessKey, bucket and folder) new uploads go to. Uploads already in the list keep the connection they were added with.", "新上传使用哪个连接（AccessKey、存储空间和文件夹）。列表中已有的上传继续使用添加时的连接。";
    connection_name: "Name", "名称";
    connection_name_tip: "What this connection is called in the app, e.g. Work or Family photos. Empty: the bucket's name.", "此连接在应用中的名称，例如“工作”或“家庭照片”。留空则使用存储空间名称。";
    connection_name_hint: "e.g. Work (empty: the bucket's name)", "例如：工作（留空则用存储空间名称）";
    name_taken: "Another connection is already called \"{name}\". Choose another name.", "已有连接名为“{name}”，请换一个名称。";
    add_connection: "Add connection", "添加连接";
    add_connection_tip: "Set up another AccessKey or bucket, e.g. one for work and one for family photos. You switch between them at the top of the main window.", "设置另一个 AccessKey 或存储空间，例如一个用于工作、一个用于家庭照片。可在主窗口顶部切换。";
    remove_connection: "Remove connection", "删除连接";
    remove_connection_tip: "Forget this connection (it asks first). Its saved secret is deleted too unless another connection uses the same AccessKey.", "删除此连接（会先确认）。除非其他连接使用同一 AccessKey，否则其保存的 Secret 也会被删除。";
    remove_connection_title: "Remove \"{name}\"?", "删除“{name}”？";
    remove_connection_body: "The connection \"{name}\" is forgotten and its saved AccessKey secret is deleted from this computer. Files already uploaded stay in the bucket.", "连接“{name}”将被删除，其保存在本机的 AccessKey Secret 也会被删除。已上传的文件仍保留在存储空间中。";
    remove_connection_shared: "The connection \"{name}\" is forgotten. Its AccessKey secret stays: another connection uses the same AccessKey. Files already uploaded stay in the bucket.", "连接“{name}”将被删除。其 AccessKey Secret 会保留，因为其他连接使用同一 AccessKey。已上传的文件仍保留在存储空间中。";
    connection_removed: "The connection \"{name}\" was removed.", "已删除连接“{name}”。";
    switched_to: "New uploads now go to \"{name}\".", "新上传现在使用“{name}”。";
    secret_for_connection: "Enter the AccessKey secret of \"{name}\": it is not saved on this computer.", "请输入“{name}”的 AccessKey Secret：本机未保存。";
    custom_domain: "Custom domain (optional)", "自定义域名（可选）";
    custom_domain_tip: "A domain bound to this bucket in the OSS console (CNAME), e.g. https://files.example.com. Share links then use it instead of the OSS address.", "在 OSS 控制台绑定到此存储空间的域名（CNAME），例如 https://files.example.com。分享链接将使用该域名代替 OSS 地址。";
    secret_not_deleted: "The saved secret could not be deleted ({error}).", "无法删除已保存的 Secret（{error}）。";
    bad_domain: "\"{name}\" is not a domain. Enter only the domain, e.g. https://files.example.com.", "“{name}”不是有效的域名。请只填写域名，例如 https://files.example.com。";
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locales_pick_the_language() {
        assert_eq!(Lang::from_locale("zh_CN.UTF-8"), Lang::Zh);
        assert_eq!(Lang::from_locale("zh-Hans-CN"), Lang::Zh);
        assert_eq!(Lang::from_locale("en_US.UTF-8"), Lang::En);
        assert_eq!(Lang::from_locale(""), Lang::En);
    }

    #[test]
    fn durations_read_naturally_in_both_languages() {
        let secs = Duration::from_secs;
        assert_eq!(EN.duration(secs(0)), "0 s");
        assert_eq!(EN.duration(secs(12)), "12 s");
        assert_eq!(EN.duration(secs(200)), "3 min 20 s");
        assert_eq!(EN.duration(secs(65)), "1 min 05 s");
        assert_eq!(EN.duration(secs(3900)), "1 h 05 min");
        assert_eq!(EN.duration(secs(3600)), "1 h 00 min");
        assert_eq!(ZH.duration(secs(12)), "12 秒");
        assert_eq!(ZH.duration(secs(200)), "3 分 20 秒");
        assert_eq!(ZH.duration(secs(65)), "1 分 5 秒");
        assert_eq!(ZH.duration(secs(3900)), "1 小时 5 分");
        assert_eq!(ZH.duration(Duration::from_millis(90_999)), "1 分 30 秒");
        // The status bar's wording around it.
        assert_eq!(
            ZH.status_eta.replace("{eta}", &ZH.duration(secs(200))),
            "约剩 3 分 20 秒"
        );
    }

    #[test]
    fn placeholders_match_in_both_languages() {
        for (en, zh) in [
            (EN.banner, ZH.banner),
            (EN.drop_here, ZH.drop_here),
            (EN.status_files, ZH.status_files),
            (EN.secret_in_file, ZH.secret_in_file),
            (EN.bad_part_size, ZH.bad_part_size),
            (EN.bucket_region_unknown, ZH.bucket_region_unknown),
            (EN.region_found, ZH.region_found),
            (EN.add_files_tip, ZH.add_files_tip),
            (EN.cancel_body, ZH.cancel_body),
            (EN.missing, ZH.missing),
            (EN.unreadable, ZH.unreadable),
            (EN.left_out, ZH.left_out),
            (EN.remove_sent_body, ZH.remove_sent_body),
            (EN.remove_sent_body_many, ZH.remove_sent_body_many),
            (EN.hide_finished, ZH.hide_finished),
            (EN.notify_all_uploaded, ZH.notify_all_uploaded),
            (EN.notify_one_uploaded, ZH.notify_one_uploaded),
            (EN.notify_all_done, ZH.notify_all_done),
            (EN.notify_failed, ZH.notify_failed),
            (EN.notify_failed_body, ZH.notify_failed_body),
            (EN.notify_done_body, ZH.notify_done_body),
            (EN.notify_unverified_body, ZH.notify_unverified_body),
            (EN.link_copied_until, ZH.link_copied_until),
            (EN.test_can, ZH.test_can),
            (EN.test_cannot, ZH.test_cannot),
            (EN.share_title, ZH.share_title),
            (EN.share_download, ZH.share_download),
            (EN.share_until, ZH.share_until),
            (EN.browser_count, ZH.browser_count),
            (EN.browser_listing, ZH.browser_listing),
            (EN.browser_goes_to, ZH.browser_goes_to),
            (EN.name_taken, ZH.name_taken),
            (EN.remove_connection_title, ZH.remove_connection_title),
            (EN.remove_connection_body, ZH.remove_connection_body),
            (EN.remove_connection_shared, ZH.remove_connection_shared),
            (EN.connection_removed, ZH.connection_removed),
            (EN.switched_to, ZH.switched_to),
            (EN.secret_for_connection, ZH.secret_for_connection),
            (EN.bad_domain, ZH.bad_domain),
        ] {
            let marks = |s: &str| {
                let mut v: Vec<String> = s
                    .split('{')
                    .skip(1)
                    .filter_map(|p| p.split('}').next().map(str::to_owned))
                    .collect();
                v.sort();
                v
            };
            assert_eq!(marks(en), marks(zh), "{en}");
        }
    }
}
