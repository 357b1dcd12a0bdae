//! Deterministic fault injection: rules that hit the Nth matching request, outages, and the
//! `--fault` flag syntax that builds the same rules from the command line.

use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::calls::Op;

/// What happens to a request a rule hits.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FaultAction {
    /// Answer with OSS error XML; the request body is read and discarded.
    Error {
        status: u16,
        code: String,
        message: String,
    },
    /// Read this many bytes of the request body, then close the connection without answering.
    DropAfterBodyBytes(u64),
    /// Wait this long, then handle the request normally.
    Delay(Duration),
    /// Never answer: the connection is held until the client gives up or the server stops.
    Stall,
    /// Handle the request fully (a part is stored, an upload completed), then close the
    /// connection instead of answering.
    ResetBeforeResponse,
    /// Handle the request fully, then never answer: the work is done and the client does not
    /// learn of it (a process killed while its request is in flight).
    StallAfterHandling,
}

impl FaultAction {
    /// An error answer with a generic message.
    pub fn error(status: u16, code: impl Into<String>) -> Self {
        let code = code.into();
        FaultAction::Error {
            status,
            message: format!("Injected fault: {code}."),
            code,
        }
    }
}

/// Hits the `nth` (1-based) request matching `op`, counted from when the rule was added, and
/// the `times - 1` matching requests after it. Requests refused by an outage are not counted:
/// they never reach the rules.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FaultRule {
    /// `None` matches every call.
    pub op: Option<Op>,
    pub nth: u64,
    pub times: u64,
    pub action: FaultAction,
}

impl FaultRule {
    pub fn new(op: Option<Op>, nth: u64, action: FaultAction) -> Self {
        Self {
            op,
            nth: nth.max(1),
            times: 1,
            action,
        }
    }

    pub fn times(mut self, times: u64) -> Self {
        self.times = times.max(1);
        self
    }
}

struct ActiveRule {
    rule: FaultRule,
    seen: u64,
}

#[derive(Default)]
struct State {
    rules: Vec<ActiveRule>,
    outage_until: Option<Instant>,
}

/// The fault switchboard of one server; clones share it.
#[derive(Clone, Default)]
pub struct Faults {
    state: Arc<Mutex<State>>,
}

impl fmt::Debug for Faults {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Faults")
            .field("pending_rules", &self.pending())
            .finish()
    }
}

impl Faults {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic while holding this lock leaves plain counters behind; they are still usable.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn add(&self, rule: FaultRule) {
        self.lock().rules.push(ActiveRule { rule, seen: 0 });
    }

    /// Every request fails with 503 ServiceUnavailable for this long, starting now.
    pub fn outage(&self, d: Duration) {
        self.lock().outage_until = Some(Instant::now() + d);
    }

    /// Removes every rule and ends an outage.
    pub fn clear(&self) {
        let mut state = self.lock();
        state.rules.clear();
        state.outage_until = None;
    }

    /// How many rules have not yet hit all the requests they will hit.
    pub fn pending(&self) -> usize {
        self.lock().rules.len()
    }

    pub(crate) fn in_outage(&self) -> bool {
        let mut state = self.lock();
        match state.outage_until {
            Some(until) if Instant::now() < until => true,
            Some(_) => {
                state.outage_until = None;
                false
            }
            None => false,
        }
    }

    /// Counts a request against every matching rule and returns the action of the first rule
    /// that hits it.
    pub(crate) fn take(&self, op: Op) -> Option<FaultAction> {
        let mut state = self.lock();
        let mut hit = None;
        for active in state.rules.iter_mut() {
            if active.rule.op.is_some_and(|o| o != op) {
                continue;
            }
            active.seen += 1;
            let first = active.rule.nth;
            let last = first + active.rule.times - 1;
            if hit.is_none() && (first..=last).contains(&active.seen) {
                hit = Some(active.rule.action.clone());
            }
        }
        state
            .rules
            .retain(|a| a.seen < a.rule.nth + a.rule.times - 1);
        hit
    }
}

/// Why a `--fault` or duration argument was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct FaultSpecError(String);

fn spec_error(spec: &str, why: impl fmt::Display) -> FaultSpecError {
    FaultSpecError(format!(
        "bad fault \"{spec}\": {why}. Expected OP[@N[xTIMES]]=ACTION, for example \
         upload_part@3=status:503:ServiceUnavailable"
    ))
}

/// Parses one `--fault` value: `OP[@N[xTIMES]]=ACTION`.
///
/// - `OP`: `any` or a call name (`put_bucket`, `put_object`, `get_object`, `head_object`,
///   `delete_object`, `initiate`, `upload_part`, `complete`, `abort`, `list_parts`,
///   `list_uploads`, or the long names such as `complete_multipart_upload`).
/// - `N`: the 1-based matching request to hit (default 1); `xTIMES`: how many in a row
///   (default 1).
/// - `ACTION`: `status:HTTP[:Code[:Message]]`, `drop:BYTES` (suffixes `k`/`KiB`, `m`/`MiB`),
///   `delay:DURATION` (`500ms`, `2s`, `1m`), `stall` or `reset`.
pub fn parse_fault(spec: &str) -> Result<FaultRule, FaultSpecError> {
    let (target, action) = spec
        .split_once('=')
        .ok_or_else(|| spec_error(spec, "missing '=ACTION'"))?;
    let (op_name, position) = match target.split_once('@') {
        Some((op, pos)) => (op, Some(pos)),
        None => (target, None),
    };
    let op = match op_name.trim() {
        "any" | "*" => None,
        name => Some(
            Op::from_name(name)
                .ok_or_else(|| spec_error(spec, format!("unknown call \"{name}\"")))?,
        ),
    };
    let (nth, times) = match position {
        None => (1, 1),
        Some(pos) => {
            let (n, t) = match pos.split_once(['x', 'X']) {
                Some((n, t)) => (n, Some(t)),
                None => (pos, None),
            };
            let nth: u64 = n.trim().parse().ok().filter(|n| *n >= 1).ok_or_else(|| {
                spec_error(spec, format!("\"{n}\" is not a request number (1, 2, …)"))
            })?;
            let times: u64 =
                match t {
                    None => 1,
                    Some(t) => t.trim().parse().ok().filter(|t| *t >= 1).ok_or_else(|| {
                        spec_error(spec, format!("\"{t}\" is not a count (1, 2, …)"))
                    })?,
                };
            (nth, times)
        }
    };
    let action = parse_action(action.trim()).map_err(|why| spec_error(spec, why))?;
    Ok(FaultRule::new(op, nth, action).times(times))
}

fn parse_action(action: &str) -> Result<FaultAction, String> {
    let (kind, arg) = match action.split_once(':') {
        Some((k, a)) => (k, Some(a)),
        None => (action, None),
    };
    match (kind.to_ascii_lowercase().as_str(), arg) {
        ("status", Some(arg)) => {
            let mut fields = arg.splitn(3, ':');
            let status_text = fields.next().unwrap_or_default();
            let status: u16 = status_text
                .parse()
                .ok()
                .filter(|s| (400..=599).contains(s))
                .ok_or_else(|| {
                    format!("\"{status_text}\" is not an HTTP error status (400–599)")
                })?;
            let code = fields
                .next()
                .filter(|c| !c.is_empty())
                .map(str::to_owned)
                .unwrap_or_else(|| default_code(status).to_owned());
            Ok(match fields.next() {
                Some(message) => FaultAction::Error {
                    status,
                    code,
                    message: message.to_owned(),
                },
                None => FaultAction::error(status, code),
            })
        }
        ("drop", Some(arg)) => parse_bytes(arg)
            .map(FaultAction::DropAfterBodyBytes)
            .ok_or_else(|| format!("\"{arg}\" is not a byte count (65536, 64KiB, 1MiB)")),
        ("delay", Some(arg)) => parse_duration(arg).map(FaultAction::Delay).map_err(|e| e.0),
        ("stall", None) => Ok(FaultAction::Stall),
        ("reset", None) => Ok(FaultAction::ResetBeforeResponse),
        ("stall-after", None) => Ok(FaultAction::StallAfterHandling),
        _ => Err(format!(
            "unknown action \"{action}\" (use status:HTTP[:Code[:Message]], drop:BYTES, \
             delay:DURATION, stall, stall-after or reset)"
        )),
    }
}

/// The OSS code that usually goes with an HTTP status.
fn default_code(status: u16) -> &'static str {
    match status {
        400 => "InvalidArgument",
        403 => "AccessDenied",
        404 => "NoSuchKey",
        409 => "FileAlreadyExists",
        500 => "InternalError",
        503 => "ServiceUnavailable",
        _ => "InjectedFault",
    }
}

fn parse_bytes(s: &str) -> Option<u64> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (digits, unit) = s.split_at(split);
    let n: u64 = digits.parse().ok()?;
    let mult = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kib" => 1024,
        "m" | "mib" => 1024 * 1024,
        "g" | "gib" => 1024 * 1024 * 1024,
        _ => return None,
    };
    n.checked_mul(mult)
}

/// A duration for a fault rule or a flag (`500ms`, `2s`, `3m`): the one parser in `units`.
pub fn parse_duration(s: &str) -> Result<Duration, FaultSpecError> {
    crate::units::parse_duration(s).map_err(|e| FaultSpecError(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nth_and_times_count_matching_requests_only() {
        let faults = Faults::default();
        faults.add(FaultRule::new(Some(Op::UploadPart), 2, FaultAction::Stall).times(2));
        assert_eq!(faults.take(Op::UploadPart), None);
        assert_eq!(faults.take(Op::ListParts), None);
        assert_eq!(faults.take(Op::UploadPart), Some(FaultAction::Stall));
        assert_eq!(faults.take(Op::UploadPart), Some(FaultAction::Stall));
        assert_eq!(faults.pending(), 0);
        assert_eq!(faults.take(Op::UploadPart), None);
    }

    #[test]
    fn any_rule_and_first_hit_wins() {
        let faults = Faults::default();
        faults.add(FaultRule::new(None, 1, FaultAction::ResetBeforeResponse));
        faults.add(FaultRule::new(Some(Op::GetObject), 1, FaultAction::Stall));
        assert_eq!(
            faults.take(Op::GetObject),
            Some(FaultAction::ResetBeforeResponse)
        );
        // The second rule counted that request too, so it is used up.
        assert_eq!(faults.pending(), 0);
    }

    #[test]
    fn outage_ends() {
        let faults = Faults::default();
        faults.outage(Duration::from_millis(30));
        assert!(faults.in_outage());
        std::thread::sleep(Duration::from_millis(40));
        assert!(!faults.in_outage());
        faults.outage(Duration::from_secs(60));
        faults.clear();
        assert!(!faults.in_outage());
    }
}
