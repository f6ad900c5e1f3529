//! Guest log lines in the server log: escaped in both formats (one guest line is one log
//! line), rate limited per tenant with the drops counted in `/metrics`, and filtered by the
//! tenant's minimum level.

use serde_json::{Value, json};

use crate::common::*;

/// The hostile guest that tries to forge host log lines (`guests/hostile/wat/log_forge.wat`).
const LOG_FORGE: &str = include_str!("../../../../guests/hostile/wat/log_forge.wat");

/// `flood` logs 1,000 `info` lines in one call; `levels` logs one `info` and one `warn` line.
const CHATTY: &str = r#"(module
  (import "palisade" "log" (func $log (param i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 0) "info-line")
  (data (i32.const 16) "warn-line")
  (func (export "palisade_alloc") (param i32) (result i32) (i32.const 1024))
  (func (export "flood") (param i32 i32) (result i32) (local $i i32)
    (loop $l
      (drop (call $log (i32.const 2) (i32.const 0) (i32.const 9)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $l (i32.lt_u (local.get $i) (i32.const 1000))))
    (i32.const 0))
  (func (export "levels") (param i32 i32) (result i32)
    (drop (call $log (i32.const 2) (i32.const 0) (i32.const 9)))
    (drop (call $log (i32.const 1) (i32.const 16) (i32.const 9)))
    (i32.const 0))
  (@custom "palisade.abi" "\01\00\00\00"))"#;

const FORGED: &str = r"ok\n[admin 00000000] error: forged line";
const ANSI: &str = r"\x1b[2J\x1b[31mcleared\u{202e}txt.exe";

/// Uploads and promotes `wat` as `plugin`; returns the short digest the log tags lines with.
fn deploy(srv: &Srv, plugin: &str, wat: &str) -> String {
    let r = srv.upload(plugin, "1", &wat::parse_str(wat).unwrap());
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    let digest = r.json()["digest"].as_str().unwrap()[..8].to_owned();
    let r = srv.admin_json(
        "POST",
        &format!("/v1/admin/plugins/{plugin}/promote"),
        json!({"version": "1"}),
    );
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    digest
}

/// The guest lines of the JSON log.
fn guest_lines(log: &str) -> Vec<Value> {
    log.lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap_or_else(|e| panic!("{e}: {l:?}")))
        .filter(|v| v["target"] == "guest")
        .collect()
}

#[test]
fn forged_log_lines_are_one_escaped_line_in_the_json_log() {
    let srv = Srv::start_logging("");
    let digest = deploy(&srv, "forge", LOG_FORGE);
    let token = srv.tenant("acme", json!({"grants": ["log"], "plugins": ["forge"]}));
    assert_eq!(srv.invoke(&token, "forge", "run", b"").status, 200);
    let r = srv.invoke(&token, "forge", "fail", b"");
    assert_error(&r, 422, "guest_error");

    let log = srv.log();
    // Every line of the log is one JSON object: nothing the guest wrote split a line.
    let lines = guest_lines(&log);
    assert_eq!(lines.len(), 2, "{log}");
    for (line, want) in lines.iter().zip([FORGED, ANSI]) {
        assert_eq!(line["message"], want, "{log}");
        assert_eq!(line["tenant"], "acme");
        assert_eq!(line["plugin"], "forge");
        assert_eq!(line["digest"], digest.as_str());
    }
    assert!(
        !log.contains('\u{1b}') && !log.contains('\u{202e}'),
        "{log}"
    );
    // The server still serves the tenant.
    assert_eq!(srv.invoke(&token, "forge", "run", b"").status, 200);
}

#[test]
fn forged_log_lines_are_one_escaped_line_in_the_text_log() {
    let srv = Srv::start_logging("log_format = \"text\"");
    let digest = deploy(&srv, "forge", LOG_FORGE);
    let token = srv.tenant("acme", json!({"grants": ["log"], "plugins": ["forge"]}));
    assert_eq!(srv.invoke(&token, "forge", "run", b"").status, 200);

    let log = srv.log();
    let forged: Vec<&str> = log.lines().filter(|l| l.contains("forged line")).collect();
    assert_eq!(forged.len(), 1, "{log}");
    assert!(forged[0].contains(FORGED), "{log}");
    assert!(
        forged[0].contains("acme") && forged[0].contains(&digest),
        "{log}"
    );
    assert!(!log.lines().any(|l| l.starts_with("[admin")), "{log}");
    let ansi: Vec<&str> = log.lines().filter(|l| l.contains("cleared")).collect();
    assert_eq!(ansi.len(), 1, "{log}");
    assert!(ansi[0].contains(ANSI), "{log}");
    // The guest's escape sequences never reach the log raw (the host's own colours may).
    assert!(
        !log.contains("\u{1b}[2J") && !log.contains('\u{202e}'),
        "{log}"
    );
}

#[test]
fn guest_log_lines_are_rate_limited_per_tenant_and_the_drops_counted() {
    let srv = Srv::start_logging("");
    deploy(&srv, "chatty", CHATTY);
    // 10 lines/s, burst 20: a call of at most 50 ms refills less than one line, so exactly
    // the burst reaches the log.
    let flood = srv.tenant(
        "flood",
        json!({"grants": ["log"], "plugins": ["chatty"], "limits": {
            "log_lines_per_second": 10, "log_burst": 20, "log_bytes": 65536,
            "deadline_ms": 50, "fuel": 100000000u64}}),
    );
    let calm = srv.tenant("calm", json!({"grants": ["log"], "plugins": ["chatty"]}));
    let r = srv.invoke(&flood, "chatty", "flood", b"");
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(srv.invoke(&calm, "chatty", "levels", b"").status, 200);

    let log = srv.log();
    let lines = guest_lines(&log);
    let flooded = lines.iter().filter(|l| l["tenant"] == "flood").count();
    assert_eq!(flooded, 20, "{log}");
    // The other tenant's lines are not affected by the flood.
    assert_eq!(lines.iter().filter(|l| l["tenant"] == "calm").count(), 2);

    let metrics = srv.metrics();
    assert!(
        metrics
            .lines()
            .any(|l| l == "palisade_guest_log_dropped_total{tenant=\"flood\"} 980"),
        "{metrics}"
    );
    assert!(!metrics.contains("palisade_guest_log_dropped_total{tenant=\"calm\"}"));
    // The flooding tenant is still served.
    assert_eq!(srv.invoke(&flood, "chatty", "levels", b"").status, 200);
}

#[test]
fn a_tenant_at_warn_gets_no_info_lines_logged_and_bad_levels_are_refused() {
    let srv = Srv::start_logging("");
    deploy(&srv, "chatty", CHATTY);
    let quiet = srv.tenant(
        "quiet",
        json!({"grants": ["log"], "plugins": ["chatty"], "limits": {"log_level": "warn"}}),
    );
    let loud = srv.tenant("loud", json!({"grants": ["log"], "plugins": ["chatty"]}));
    assert_eq!(srv.invoke(&quiet, "chatty", "levels", b"").status, 200);
    assert_eq!(srv.invoke(&loud, "chatty", "levels", b"").status, 200);

    let lines = guest_lines(&srv.log());
    let messages = |tenant: &str| -> Vec<String> {
        lines
            .iter()
            .filter(|l| l["tenant"] == tenant)
            .map(|l| l["message"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(messages("quiet"), ["warn-line"]);
    assert_eq!(messages("loud"), ["info-line", "warn-line"]);

    let r = srv.admin_json(
        "PUT",
        "/v1/admin/tenants/noisy",
        json!({"limits": {"log_level": "loud"}}),
    );
    assert_error(&r, 400, "bad_json");
    let r = srv.admin_json("GET", "/v1/admin/tenants", json!(null));
    let tenants = r.json()["tenants"].clone();
    let quiet = tenants
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["id"] == "quiet")
        .unwrap();
    assert_eq!(quiet["config"]["limits"]["log_level"], "warn");
}
