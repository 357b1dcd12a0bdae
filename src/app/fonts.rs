//! The window's fonts: egui's own first, then the bundled CJK font (a GB2312 subset of Noto Sans
//! CJK SC, see `assets/fonts/README.md`) so that Chinese labels and file names render on any
//! computer, then, for any character still missing (Traditional Chinese, Japanese, Korean,
//! Arabic, emoji…), the system's installed fonts, found on demand.

use std::sync::Arc;

use egui::{Context, FontData, FontFamily, FontInsert, FontPriority, InsertFontFamily};

/// The name the font is registered under in egui's font definitions.
pub const FONT_NAME: &str = "noto-sans-cjk-sc-subset";

/// The subset itself (about 3 MB), built by `assets/fonts/make_subset.sh`.
pub static FONT_BYTES: &[u8] = include_bytes!("../../assets/fonts/NotoSansCJKsc-Subset.otf");

/// Adds the CJK font as the last fallback of the proportional and monospace families.
///
/// Last, not first: egui's fonts carry the emoji and icon glyphs the UI uses, and the CJK
/// face's Latin letters are wider than egui's. Calling it twice does nothing the second time.
pub fn install(ctx: &Context) {
    ctx.add_font(FontInsert::new(
        FONT_NAME,
        FontData::from_static(FONT_BYTES),
        vec![
            InsertFontFamily {
                family: FontFamily::Proportional,
                priority: FontPriority::Lowest,
            },
            InsertFontFamily {
                family: FontFamily::Monospace,
                priority: FontPriority::Lowest,
            },
        ],
    ));
}

/// The window's fonts: [`install`], then the system's fonts as the last fallback.
///
/// The system's fonts come last, after the bundled subset, so that the subset stays the one
/// look of Chinese text on every computer and the guaranteed minimum where no font is
/// installed. egui's provider asks the platform's font fallback (fontconfig on Linux, opened at
/// run time; CoreText; DirectWrite) for a font with the missing character, memory-maps it, and
/// is asked once per character; listing the system's fonts runs on its own thread from here.
pub fn setup(ctx: &Context) {
    install(ctx);
    ctx.add_font_provider(Arc::new(
        egui_system_font_provider::SystemFontProvider::new(),
    ));
}

#[cfg(test)]
mod tests {
    use super::*;
    use egui::FontId;
    use skrifa::string::StringId;
    use skrifa::{FontRef, MetadataProvider as _};

    /// Labels as the Chinese UI shows them, and the messages users read.
    const CHINESE_UI: &str = "上传文件 拖放文件到这里 选择文件… 选择文件夹 暂停 继续 取消 重试 删除 \
        全部暂停 全部继续 清除已完成 设置 语言 地域 存储桶 访问密钥 AccessKey ID AccessKey Secret \
        安全令牌 保存在系统钥匙串 保存到文件 仅本次会话 端点 自定义域名 分片大小 并发数 带宽限制 \
        已存在时：覆盖、跳过、保留两者 正在上传 正在校验 已完成 已暂停 已中断 失败 已取消 已跳过 \
        剩余时间 速度 复制链接 打开日志文件夹 网络中断，稍后自动重试。校验失败：CRC64 不一致！ \
        华东1（杭州） 华东2（上海） 华北1（青岛） 华北2（北京） 华北3（张家口） 华北5（呼和浩特） \
        华北6（乌兰察布） 华南1（深圳） 华南2（河源） 华南3（广州） 西南1（成都） 中国香港 新加坡 \
        吉隆坡 雅加达 马尼拉 曼谷 东京 首尔 硅谷 弗吉尼亚 法兰克福 伦敦 迪拜 \
        「提示」《说明》【注意】“引号”‘单引号’ — ～ ￥100 ％ ＃ １２３";

    /// Characters people put in file names, in both languages.
    const FILE_NAME_CHARS: &str = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 \
        !#$%&'()+,-.;=@[]^_`{}~ éèêëàâäôöüùçñÉÀÖÜß·• 2024年度报告（最终版）_副本 (1).xlsx \
        项目资料/设计稿/首页-v2.psd 会议记录——第3次.docx 照片 张三&李四.jpg 数据备份#7.tar.gz";

    /// The symbols the UI draws; each must come from the subset or egui's own fonts.
    const UI_SYMBOLS: &str = "✓✔✖⏸▶⟳↻…⚠☁⬆⬇⏹×→←↑↓";

    /// Runs a pass with no painter: the font atlas it uploads is dropped on purpose.
    fn one_pass(ctx: &Context) {
        let mut out = ctx.run_ui(egui::RawInput::default(), |_| {});
        out.textures_delta.clear();
    }

    fn subset() -> FontRef<'static> {
        FontRef::new(FONT_BYTES).expect("the bundled font parses")
    }

    fn missing(face: &FontRef<'_>, text: &str) -> String {
        let charmap = face.charmap();
        text.chars()
            .filter(|c| !c.is_whitespace() && charmap.map(*c).is_none())
            .collect()
    }

    #[test]
    fn the_subset_is_noto_sans_cjk_sc() {
        let face = subset();
        let name = face
            .localized_strings(StringId::FULL_NAME)
            .english_or_first()
            .map(|n| n.to_string());
        assert_eq!(name.as_deref(), Some("Noto Sans CJK SC"));
        assert!(
            (2_000_000..5_000_000).contains(&FONT_BYTES.len()),
            "{} bytes",
            FONT_BYTES.len()
        );
    }

    #[test]
    fn chinese_ui_text_and_file_names_have_glyphs_in_the_subset() {
        let face = subset();
        assert_eq!(missing(&face, CHINESE_UI), "");
        assert_eq!(missing(&face, FILE_NAME_CHARS), "");
    }

    #[test]
    fn every_region_name_has_glyphs_in_the_subset() {
        let face = subset();
        for region in crate::oss::regions::REGIONS {
            assert_eq!(missing(&face, region.zh), "", "{}", region.id);
        }
    }

    #[test]
    fn all_of_gb2312_level_one_is_in_the_subset() {
        // The 3755 most common hanzi, U+4E00.. in GB2312 order, sampled at both ends and the
        // middle: rare ones (鼢, 齄) fail first when a subset is cut from the wrong table.
        let face = subset();
        assert_eq!(
            missing(&face, "啊阿埃挨哎唉哀皑癌蔼矮艾碍爱隘鞍氨安俺按暗岸胺案"),
            ""
        );
        assert_eq!(
            missing(
                &face,
                "亍丌兀丐廿卅丕亘丞鬲孬噩丨禺丿匕乇夭爻卮氐囟胤馗毓睾鼗"
            ),
            ""
        );
        assert_eq!(missing(&face, "鼢鼬鼯鼹鼷鼽鼾齄"), "");
        // Not in GB2312: proves the subset is a subset and the test can fail.
        assert_ne!(missing(&face, "𠀀"), "");
    }

    #[test]
    fn installed_fonts_cover_chinese_ui_text_and_ui_symbols() {
        let ctx = Context::default();
        install(&ctx);
        // Font changes apply at the start of a pass.
        one_pass(&ctx);
        for family in [FontFamily::Proportional, FontFamily::Monospace] {
            let font = FontId::new(14.0, family.clone());
            let gaps: String = ctx.fonts_mut(|f| {
                CHINESE_UI
                    .chars()
                    .chain(FILE_NAME_CHARS.chars())
                    .chain(UI_SYMBOLS.chars())
                    .filter(|c| !c.is_whitespace() && !f.has_glyph(&font, *c))
                    .collect()
            });
            assert_eq!(gaps, "", "{family:?}");
            // ✗ (U+2717) is in none of the fonts: the UI must use ✖ instead.
            assert!(!ctx.fonts_mut(|f| f.has_glyph(&font, '✗')));
        }
    }

    #[test]
    fn without_the_subset_chinese_has_no_glyphs() {
        let ctx = Context::default();
        one_pass(&ctx);
        let font = FontId::proportional(14.0);
        assert!(!ctx.fonts_mut(|f| f.has_glyphs(&font, "上传")));
    }
}
