//! SHIM (branch `app` only): the colleague's region list replaces this file on merge. It has the
//! same names (`Region`, `REGIONS`, `Region::endpoint`) so the window compiles against them.

/// An OSS region with its readable names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Region {
    pub id: &'static str,
    pub en: &'static str,
    pub zh: &'static str,
}

impl Region {
    /// The public endpoint of the region.
    pub fn endpoint(&self) -> String {
        format!("oss-{}.aliyuncs.com", self.id)
    }
}

pub const REGIONS: &[Region] = &[
    Region {
        id: "cn-hangzhou",
        en: "China (Hangzhou)",
        zh: "华东1（杭州）",
    },
    Region {
        id: "cn-shanghai",
        en: "China (Shanghai)",
        zh: "华东2（上海）",
    },
    Region {
        id: "cn-beijing",
        en: "China (Beijing)",
        zh: "华北2（北京）",
    },
    Region {
        id: "cn-shenzhen",
        en: "China (Shenzhen)",
        zh: "华南1（深圳）",
    },
    Region {
        id: "cn-hongkong",
        en: "China (Hong Kong)",
        zh: "中国香港",
    },
    Region {
        id: "ap-southeast-1",
        en: "Singapore",
        zh: "新加坡",
    },
    Region {
        id: "us-west-1",
        en: "US (Silicon Valley)",
        zh: "美国（硅谷）",
    },
    Region {
        id: "eu-central-1",
        en: "Germany (Frankfurt)",
        zh: "德国（法兰克福）",
    },
];
