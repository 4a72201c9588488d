//! Bad campaign files: every problem is reported, with file, line, column and field.

use pressroom_core::campaign::{SpecIssue, ValidationContext, parse_campaign, validate_references};

const GOOD: &str = include_str!("../../../../templates/campaigns/spring-launch.toml");

fn issues(source: &str) -> Vec<SpecIssue> {
    match parse_campaign(source, "bad.toml") {
        Ok(spec) => panic!("should be refused, parsed {spec:?}"),
        Err(issues) => issues,
    }
}

/// The rendered issues, for readable assertion failures.
fn rendered(issues: &[SpecIssue]) -> String {
    issues.iter().map(|i| format!("{i}\n")).collect()
}

/// The single issue on `field`, or a failure listing all of them.
fn on<'a>(issues: &'a [SpecIssue], field: &str) -> &'a SpecIssue {
    let found: Vec<&SpecIssue> = issues.iter().filter(|i| i.field == field).collect();
    match found.as_slice() {
        [one] => one,
        _ => panic!("expected one issue on {field}, got:\n{}", rendered(issues)),
    }
}

/// 1-based line of the first line of `source` that contains `needle`.
fn line_of(source: &str, needle: &str) -> usize {
    source
        .lines()
        .position(|l| l.contains(needle))
        .map(|i| i + 1)
        .unwrap_or_else(|| panic!("{needle:?} not in source"))
}

const BASE: &str = r#"
name = "ok"
workspace = "demo"

[schedule]
cron = "0 9 * * *"
timezone = "Europe/Paris"

[generation]
prompt = "a {{ thing }}"

[caption]
template = "hello"

[variables]
thing = "kite"

[[targets]]
account = "sandbox"
preset = "instagram-square"
"#;

#[test]
fn base_fixture_is_valid() {
    assert!(parse_campaign(BASE, "base.toml").is_ok());
}

#[test]
fn malformed_toml_reports_the_syntax_error_position() {
    let src = "name = \"x\"\nworkspace = \n[schedule]\n";
    let all = issues(src);
    assert!(!all.is_empty());
    let first = &all[0];
    assert_eq!(
        (first.file.as_str(), first.line),
        ("bad.toml", 2),
        "{}",
        rendered(&all)
    );
    assert!(first.message.starts_with("malformed TOML"), "{first}");
    assert!(first.to_string().starts_with("bad.toml:2:"), "{first}");
}

#[test]
fn an_empty_file_gets_one_clear_issue() {
    for src in ["", "# nothing yet\n"] {
        let all = issues(src);
        assert_eq!(all.len(), 1, "{}", rendered(&all));
        assert!(
            all[0]
                .to_string()
                .starts_with("bad.toml:1:1: empty campaign"),
            "{}",
            all[0]
        );
    }
}

#[test]
fn unknown_fields_are_named_everywhere() {
    let src = BASE
        .replace("name = \"ok\"", "name = \"ok\"\ncolour = \"red\"")
        .replace(
            "timezone = \"Europe/Paris\"",
            "timezone = \"Europe/Paris\"\ntimzone = \"UTC\"",
        )
        .replace(
            "preset = \"instagram-square\"",
            "preset = \"instagram-square\"\nfitt = \"cover\"",
        );
    let all = issues(&src);
    assert_eq!(all.len(), 3, "{}", rendered(&all));
    let colour = on(&all, "colour");
    assert_eq!((colour.line, colour.column), (line_of(&src, "colour"), 1));
    assert!(
        colour.message.contains("unknown field `colour`"),
        "{colour}"
    );
    let tz = on(&all, "schedule.timzone");
    assert_eq!(tz.line, line_of(&src, "timzone"));
    assert!(
        tz.message.contains("`timezone`"),
        "lists the expected fields: {tz}"
    );
    assert_eq!(on(&all, "targets[0].fitt").line, line_of(&src, "fitt"));
}

#[test]
fn invalid_cron_and_unknown_zone_are_both_reported() {
    let src = BASE
        .replace("0 9 * * *", "0 25 * * *")
        .replace("Europe/Paris", "Europe/Pariss");
    let all = issues(&src);
    assert_eq!(all.len(), 2, "{}", rendered(&all));
    let cron = on(&all, "schedule.cron");
    assert_eq!((cron.line, cron.column), (line_of(&src, "cron ="), 8));
    assert!(cron.message.contains("invalid cron"), "{cron}");
    let tz = on(&all, "schedule.timezone");
    assert!(
        tz.message.contains("unknown time zone \"Europe/Pariss\""),
        "{tz}"
    );
    assert_eq!(
        tz.to_string(),
        format!(
            "bad.toml:{}:12: schedule.timezone: {}",
            line_of(&src, "timezone"),
            tz.message
        )
    );
}

#[test]
fn cron_needs_a_zone_and_exactly_one_trigger() {
    let all = issues(&BASE.replace("timezone = \"Europe/Paris\"\n", ""));
    assert!(
        on(&all, "schedule.timezone")
            .message
            .contains("needs a `timezone`")
    );

    let all = issues(&BASE.replace(
        "cron = \"0 9 * * *\"\n",
        "cron = \"0 9 * * *\"\nwebhook = true\n",
    ));
    assert!(
        on(&all, "schedule.webhook")
            .message
            .contains("give only one of"),
        "{}",
        rendered(&all)
    );

    let all = issues(&BASE.replace("cron = \"0 9 * * *\"\n", ""));
    assert!(
        on(&all, "schedule.cron").message.contains("is required"),
        "{}",
        rendered(&all)
    );
}

#[test]
fn one_shot_in_a_dst_gap_is_refused_at_its_position() {
    let src = BASE.replace("cron = \"0 9 * * *\"", "at = \"2026-03-29T02:30:00\"");
    let at = on(&issues(&src), "schedule.at").clone();
    assert_eq!(at.line, line_of(&src, "at ="));
    assert!(at.message.contains("does not exist"), "{at}");
    // TOML's own date-time type works too.
    let src = BASE.replace("cron = \"0 9 * * *\"", "at = 2026-03-30T10:00:00");
    assert!(parse_campaign(&src, "ok.toml").is_ok());
}

#[test]
fn misfire_settings_are_checked() {
    let all = issues(&BASE.replace("Europe/Paris\"", "Europe/Paris\"\nmisfire = \"later\""));
    assert!(
        on(&all, "schedule.misfire")
            .message
            .contains("unknown misfire policy `later`")
    );
    let all = issues(&BASE.replace("Europe/Paris\"", "Europe/Paris\"\nmisfire = \"each\""));
    assert!(
        on(&all, "schedule.misfire_window")
            .message
            .contains("needs `misfire_window`")
    );
    let all = issues(&BASE.replace(
        "Europe/Paris\"",
        "Europe/Paris\"\nmisfire = \"each\"\nmisfire_window = \"6 parsecs\"",
    ));
    assert!(
        on(&all, "schedule.misfire_window")
            .message
            .contains("unknown unit")
    );
    let all = issues(&BASE.replace("Europe/Paris\"", "Europe/Paris\"\nmisfire_window = \"6h\""));
    assert!(
        on(&all, "schedule.misfire_window")
            .message
            .contains("only applies")
    );
}

#[test]
fn template_syntax_errors_point_into_the_file() {
    let src = BASE
        .replace(
            "prompt = \"a {{ thing }}\"",
            "prompt = \"\"\"\nfirst line\nsecond {{ thing }\n\"\"\"",
        )
        .replace("template = \"hello\"", "template = \"hi {% if x %}\"");
    let all = issues(&src);
    assert_eq!(all.len(), 2, "{}", rendered(&all));
    let prompt = on(&all, "generation.prompt");
    assert_eq!(prompt.line, line_of(&src, "second {{"), "{prompt}");
    assert!(prompt.message.contains("template syntax error"), "{prompt}");
    let caption = on(&all, "caption.template");
    assert_eq!(caption.line, line_of(&src, "hi {%"), "{caption}");
}

#[test]
fn bad_generation_numbers_are_all_reported() {
    let src = BASE.replace(
        "prompt = \"a {{ thing }}\"",
        "prompt = \"a {{ thing }}\"\nsteps = 0\nwidth = 500\nheight = 99999\nguidance = -1.0\nscheduler = \"warp\"\nbackend = \"gpu-farm\"\nseed = -4\nmodel = \"\"",
    );
    let all = issues(&src);
    let expect = [
        ("generation.steps", "between 1 and 150"),
        ("generation.width", "multiple of 8"),
        ("generation.height", "between 64 and 4096"),
        ("generation.guidance", "between 0 and 50"),
        ("generation.scheduler", "unknown scheduler `warp`"),
        ("generation.backend", "unknown backend `gpu-farm`"),
        ("generation.seed", "between 0 and"),
        ("generation.model", "must not be empty"),
    ];
    assert_eq!(all.len(), expect.len(), "{}", rendered(&all));
    for (field, text) in expect {
        let issue = on(&all, field);
        assert!(issue.message.contains(text), "{issue}");
        let key = field.trim_start_matches("generation.");
        assert_eq!(issue.line, line_of(&src, &format!("{key} =")), "{issue}");
    }
}

#[test]
fn local_images_over_the_engines_pixels_are_refused_at_save() {
    let big = BASE.replace(
        "prompt = \"a {{ thing }}\"",
        "prompt = \"a {{ thing }}\"\nwidth = 2048\nheight = 2048",
    );
    let all = issues(&big);
    let issue = on(&all, "generation.width");
    assert!(issue.message.contains("1536×1536"), "{issue}");
    assert_eq!(issue.line, line_of(&big, "width ="), "{issue}");
    // A remote backend has its own sizes.
    let remote = big.replace("width = 2048", "width = 2048\nbackend = \"openai\"");
    let spec =
        parse_campaign(&remote, "remote.toml").expect("a remote backend's sizes are its own");
    assert_eq!(
        (spec.generation.width, spec.generation.height),
        (2048, 2048)
    );
}

#[test]
fn wrong_types_and_missing_sections_are_reported() {
    let src = "name = \"Not A Slug\"\nworkspace = 3\n[generation]\nprompt = 5\n";
    let all = issues(src);
    assert!(on(&all, "name").message.contains("a-z"));
    assert_eq!(
        on(&all, "workspace").message,
        "expected a string, found integer"
    );
    assert_eq!(
        on(&all, "generation.prompt").message,
        "expected a string, found integer"
    );
    for missing in ["schedule", "caption", "targets"] {
        assert_eq!(on(&all, missing).message, "missing required field");
    }
}

#[test]
fn targets_are_checked_one_by_one() {
    let src = format!(
        "{BASE}\n[[targets]]\npreset = \"x\"\nfit = \"stretch\"\n\n[[targets]]\naccount = \"sandbox\"\npreset = \"instagram-square\"\n"
    );
    let all = issues(&src);
    assert_eq!(
        on(&all, "targets[1].account").message,
        "missing required field"
    );
    assert!(
        on(&all, "targets[1].fit")
            .message
            .contains("unknown fit `stretch`")
    );
    assert!(on(&all, "targets[2]").message.contains("duplicate target"));
    // Root keys must precede the first table header.
    let empty = "targets = []\n".to_owned() + BASE.split("[[targets]]").next().unwrap_or_default();
    assert!(
        on(&issues(&empty), "targets")
            .message
            .contains("at least one")
    );
}

#[test]
fn unknown_accounts_and_presets_are_positioned() {
    let spec = parse_campaign(GOOD, "spring-launch.toml").expect("sample parses");
    let ctx = ValidationContext {
        known_accounts: &|a| a == "someone-else",
        known_presets: &|p| p != "facebook-feed",
        known_backends: &|_| true,
    };
    let all = validate_references(&spec, GOOD, "spring-launch.toml", &ctx);
    assert_eq!(all.len(), 5, "{}", rendered(&all));
    let preset = on(&all, "targets[3].preset");
    assert_eq!(preset.line, line_of(GOOD, "preset = \"facebook-feed\""));
    assert_eq!(preset.column, 10);
    assert_eq!(preset.message, "unknown preset `facebook-feed`");
    let account = on(&all, "targets[0].account");
    assert_eq!(
        account.message,
        "unknown account `sandbox` in workspace `demo`"
    );
    assert!(account.to_string().starts_with("spring-launch.toml:"));

    let no_local = ValidationContext {
        known_accounts: &|_| true,
        known_presets: &|_| true,
        known_backends: &|b| b == "openai",
    };
    let all = validate_references(&spec, GOOD, "spring-launch.toml", &no_local);
    assert_eq!(
        on(&all, "generation.backend").line,
        line_of(GOOD, "backend =")
    );
}

#[test]
fn template_variables_must_be_provided() {
    let src = BASE
        .replace(
            "template = \"hello\"",
            "template = \"{{ thing }} on {{ run.date }}, {{ colour }}\"",
        )
        .replace(
            "prompt = \"a {{ thing }}\"",
            "prompt = \"a {{ thing }} {% for x in range(2) %}{{ x }}{% endfor %}{{ size }}\"",
        )
        .replace("thing = \"kite\"", "thing = \"kite\"\nrun = 1");
    let all = issues(&src);
    assert_eq!(all.len(), 3, "{}", rendered(&all));
    assert!(
        on(&all, "caption.template")
            .message
            .contains("undefined variable `colour`")
    );
    assert!(
        on(&all, "generation.prompt")
            .message
            .contains("undefined variable `size`")
    );
    let reserved = on(&all, "variables.run");
    assert_eq!(
        (reserved.line, reserved.column),
        (line_of(&src, "run = 1"), 1)
    );
}

#[test]
fn an_approval_section_is_read_with_its_defaults() {
    let source = format!(
        "{BASE}\n[approval]\ncandidates = 3\nlead_time = \"24h\"\napprovers = [\"Client@Acme.example\", \"client@acme.example\"]\n"
    );
    let spec = parse_campaign(&source, "ok.toml").unwrap_or_else(|e| panic!("{}", rendered(&e)));
    let approval = spec.review().expect("approval required by default");
    assert_eq!(approval.candidates, 3);
    assert_eq!(
        approval.lead_time,
        std::time::Duration::from_secs(24 * 3600)
    );
    assert_eq!(
        approval.expires_after,
        std::time::Duration::from_secs(72 * 3600),
        "expires_after defaults to 72 h"
    );
    assert_eq!(
        approval.on_expiry,
        pressroom_core::campaign::OnExpiry::Discard
    );
    assert_eq!(approval.approvers, vec!["client@acme.example".to_string()]);
    assert_eq!(spec.candidates(), 3);
    assert_eq!(spec.lead_time(), std::time::Duration::from_secs(24 * 3600));

    let stored = serde_json::to_string(&spec).expect("serialize");
    let back: pressroom_core::campaign::CampaignSpec =
        serde_json::from_str(&stored).expect("deserialize");
    assert_eq!(back, spec, "the stored spec reads back the same");

    let plain = parse_campaign(BASE, "ok.toml").unwrap_or_else(|e| panic!("{}", rendered(&e)));
    assert_eq!(plain.review(), None);
    assert_eq!(plain.candidates(), 1);
    assert!(plain.lead_time().is_zero());

    let off = format!("{BASE}\n[approval]\nrequired = false\ncandidates = 4\n");
    let off = parse_campaign(&off, "ok.toml").unwrap_or_else(|e| panic!("{}", rendered(&e)));
    assert_eq!(off.review(), None, "required = false turns the gate off");
    assert_eq!(off.candidates(), 1);
}

#[test]
fn a_bad_approval_section_names_each_field() {
    let source = format!(
        "{BASE}\n[approval]\ncandidates = 9\nlead_time = \"soon\"\nexpires_after = \"0h\"\non_expiry = \"keep\"\napprovers = [\"nobody\", 3]\nreviewers = true\n"
    );
    let found = issues(&source);
    assert!(
        on(&found, "approval.candidates")
            .message
            .contains("between 1 and 8")
    );
    assert!(on(&found, "approval.lead_time").message.contains("soon"));
    assert!(
        on(&found, "approval.expires_after")
            .message
            .contains("positive")
    );
    assert!(
        on(&found, "approval.on_expiry")
            .message
            .contains("`discard` or `publish`")
    );
    assert!(
        on(&found, "approval.approvers[0]")
            .message
            .contains("not an email address")
    );
    assert!(
        on(&found, "approval.approvers[1]")
            .message
            .contains("expected a string")
    );
    assert!(on(&found, "approval.reviewers").message.contains("unknown"));
    assert_eq!(
        on(&found, "approval.candidates").line,
        line_of(&source, "candidates = 9")
    );
}

#[test]
fn approval_durations_are_bounded() {
    let source = format!("{BASE}\n[approval]\nlead_time = \"100000w\"\nexpires_after = \"400d\"\n");
    let found = issues(&source);
    assert!(
        on(&found, "approval.lead_time")
            .message
            .contains("at most 365 days")
    );
    assert!(
        on(&found, "approval.expires_after")
            .message
            .contains("at most 365 days")
    );
}
