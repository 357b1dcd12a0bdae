//! The public OSS regions a person can pick from, with their names in English and Chinese as
//! Alibaba's "Regions and endpoints" page gives them, and the public endpoint of each.
//!
//! Local regions (Nanjing, Fuzhou, Wuhan) and regions being closed are left out: people who
//! use them type the endpoint themselves. Checked against the Chinese page's tables (public
//! endpoint `oss-<id>.aliyuncs.com` for every region listed here) in November 2026.

/// One OSS region.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Region {
    /// The region ID used by V4 signing and in endpoints: `cn-hangzhou`.
    pub id: &'static str,
    /// The name on Alibaba Cloud's international site: `China (Hangzhou)`.
    pub en: &'static str,
    /// The name on the Chinese site: `华东1（杭州）`.
    pub zh: &'static str,
}

/// The regions in the order Alibaba lists them: Chinese mainland, Hong Kong, then the rest of
/// Asia Pacific, Europe and the Americas, the Middle East.
#[rustfmt::skip]
pub const REGIONS: &[Region] = &[
    Region { id: "cn-hangzhou", en: "China (Hangzhou)", zh: "华东1（杭州）" },
    Region { id: "cn-shanghai", en: "China (Shanghai)", zh: "华东2（上海）" },
    Region { id: "cn-qingdao", en: "China (Qingdao)", zh: "华北1（青岛）" },
    Region { id: "cn-beijing", en: "China (Beijing)", zh: "华北2（北京）" },
    Region { id: "cn-zhangjiakou", en: "China (Zhangjiakou)", zh: "华北3（张家口）" },
    Region { id: "cn-huhehaote", en: "China (Hohhot)", zh: "华北5（呼和浩特）" },
    Region { id: "cn-wulanchabu", en: "China (Ulanqab)", zh: "华北6（乌兰察布）" },
    Region { id: "cn-shenzhen", en: "China (Shenzhen)", zh: "华南1（深圳）" },
    Region { id: "cn-heyuan", en: "China (Heyuan)", zh: "华南2（河源）" },
    Region { id: "cn-guangzhou", en: "China (Guangzhou)", zh: "华南3（广州）" },
    Region { id: "cn-chengdu", en: "China (Chengdu)", zh: "西南1（成都）" },
    Region { id: "cn-zhongwei", en: "China (Zhongwei)", zh: "西北2（中卫）" },
    Region { id: "cn-hongkong", en: "China (Hong Kong)", zh: "中国香港" },
    Region { id: "ap-northeast-1", en: "Japan (Tokyo)", zh: "日本（东京）" },
    Region { id: "ap-northeast-2", en: "South Korea (Seoul)", zh: "韩国（首尔）" },
    Region { id: "ap-southeast-1", en: "Singapore", zh: "新加坡" },
    Region { id: "ap-southeast-3", en: "Malaysia (Kuala Lumpur)", zh: "马来西亚（吉隆坡）" },
    Region { id: "ap-southeast-5", en: "Indonesia (Jakarta)", zh: "印度尼西亚（雅加达）" },
    Region { id: "ap-southeast-6", en: "Philippines (Manila)", zh: "菲律宾（马尼拉）" },
    Region { id: "ap-southeast-7", en: "Thailand (Bangkok)", zh: "泰国（曼谷）" },
    Region { id: "eu-central-1", en: "Germany (Frankfurt)", zh: "德国（法兰克福）" },
    Region { id: "eu-west-1", en: "UK (London)", zh: "英国（伦敦）" },
    Region { id: "us-west-1", en: "US (Silicon Valley)", zh: "美国（硅谷）" },
    Region { id: "us-east-1", en: "US (Virginia)", zh: "美国（弗吉尼亚）" },
    Region { id: "na-south-1", en: "Mexico", zh: "墨西哥" },
    Region { id: "me-east-1", en: "UAE (Dubai)", zh: "阿联酋（迪拜）" },
    Region { id: "me-central-1", en: "Saudi Arabia (Riyadh, partner-operated)", zh: "沙特（利雅得）- 合作伙伴运营" },
];

impl Region {
    /// The public endpoint: `oss-cn-hangzhou.aliyuncs.com`.
    pub fn endpoint(&self) -> String {
        format!("oss-{}.aliyuncs.com", self.id)
    }

    /// The region with this ID, if it is one of [`REGIONS`].
    pub fn by_id(id: &str) -> Option<&'static Region> {
        REGIONS.iter().find(|r| r.id == id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oss::endpoint::{Addressing, Endpoint};
    use std::collections::HashSet;

    #[test]
    fn ids_and_names_are_unique() {
        let ids: HashSet<_> = REGIONS.iter().map(|r| r.id).collect();
        let en: HashSet<_> = REGIONS.iter().map(|r| r.en).collect();
        let zh: HashSet<_> = REGIONS.iter().map(|r| r.zh).collect();
        assert_eq!(ids.len(), REGIONS.len());
        assert_eq!(en.len(), REGIONS.len());
        assert_eq!(zh.len(), REGIONS.len());
    }

    #[test]
    fn every_endpoint_parses_and_gives_back_its_region() {
        for r in REGIONS {
            let e = Endpoint::parse(&r.endpoint()).expect("parses");
            assert_eq!(e.scheme, "https", "{}", r.id);
            assert_eq!(e.addressing, Addressing::VirtualHosted, "{}", r.id);
            assert_eq!(e.region().as_deref(), Some(r.id));
            assert_eq!(Region::by_id(&e.region().unwrap_or_default()), Some(r));
        }
    }

    #[test]
    fn lookups() {
        let hz = Region::by_id("cn-hangzhou").expect("hangzhou");
        assert_eq!(hz.endpoint(), "oss-cn-hangzhou.aliyuncs.com");
        assert_eq!(hz.zh, "华东1（杭州）");
        assert_eq!(
            Region::by_id("ap-southeast-1").map(|r| r.en),
            Some("Singapore")
        );
        assert_eq!(Region::by_id("oss-cn-hangzhou"), None);
        assert_eq!(Region::by_id(""), None);
        assert_eq!(Region::by_id("CN-HANGZHOU"), None);
    }

    #[test]
    fn ids_are_lowercase_dns_labels() {
        for r in REGIONS {
            assert!(
                r.id.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'),
                "{}",
                r.id
            );
        }
    }
}
