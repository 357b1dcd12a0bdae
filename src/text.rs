//! Words for a person in both languages the program speaks. The engine and the protocol layer
//! write their messages (errors, notices) as a [`Text`] with English and Chinese side by side;
//! the window shows the one in its language, the CLI and the logs the English.

use serde::{Deserialize, Serialize};

/// A language the program speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Lang {
    En,
    Zh,
}

impl Lang {
    /// The system's language: Chinese for any `zh` locale, English otherwise.
    pub fn from_system() -> Self {
        // On Unix the variables win over sys-locale's answer, as every program there does.
        let from_env = ["LC_ALL", "LC_MESSAGES", "LANG"]
            .iter()
            .filter_map(|v| std::env::var(v).ok())
            .find(|v| !v.is_empty());
        let locale = from_env.or_else(sys_locale::get_locale).unwrap_or_default();
        Self::from_locale(&locale)
    }

    /// `zh_CN.UTF-8`, `zh-Hans` → Chinese; anything else → English.
    pub fn from_locale(locale: &str) -> Self {
        if locale.to_ascii_lowercase().starts_with("zh") {
            Lang::Zh
        } else {
            Lang::En
        }
    }
}

/// A message in English and Chinese.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Text {
    pub en: String,
    /// Empty in records written before messages were translated: the English stands in.
    #[serde(default)]
    pub zh: String,
}

impl Text {
    pub fn new(en: impl Into<String>, zh: impl Into<String>) -> Self {
        Self {
            en: en.into(),
            zh: zh.into(),
        }
    }

    pub fn get(&self, lang: Lang) -> &str {
        pick(lang, &self.en, &self.zh)
    }
}

/// The text for `lang` of an English and a Chinese version; an empty Chinese one (a record
/// written before messages were translated) falls back to the English.
pub fn pick<'a>(lang: Lang, en: &'a str, zh: &'a str) -> &'a str {
    match lang {
        Lang::Zh if !zh.is_empty() => zh,
        _ => en,
    }
}

impl std::fmt::Display for Text {
    /// The English, for logs and the command line.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.en)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chinese_falls_back_to_english_when_missing() {
        let t = Text::new("Paused", "已暂停");
        assert_eq!(t.get(Lang::Zh), "已暂停");
        assert_eq!(t.get(Lang::En), "Paused");
        let old: Text = serde_json::from_str(r#"{"en":"Paused"}"#).unwrap();
        assert_eq!(old.get(Lang::Zh), "Paused");
        assert_eq!(t.to_string(), "Paused");
    }
}
