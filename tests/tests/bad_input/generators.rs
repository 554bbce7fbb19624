//! Generators: the nasty values every field is filled with.

use budget_e2e::config;
use budget_proto::v1 as pb;
use proptest::prelude::*;

/// Strings meant to break parsers, SQL and encodings.
pub(crate) const NASTY: &[&str] = &[
    "",
    " ",
    "'",
    "\"",
    "\\",
    "%",
    "_",
    "%_%",
    "\0",
    "a\0b",
    "acme\0",
    "'; DROP TABLE tenants; --",
    "acme' OR '1'='1",
    "$1",
    "NULL",
    "null",
    "NaN",
    "-1",
    "9223372036854775808",
    "\r\n",
    "\u{202e}acme",
    "\u{feff}",
    "😀",
    "ａｃｍｅ",
    "ACME",
    "acme ",
    " acme",
    "-acme",
    "acme-",
    "../../etc/passwd",
    "<script>alert(1)</script>",
    "${jndi:ldap://x}",
    "30d ",
    "30D",
    "0d",
    "-30d",
    "1d",
    "30",
    "2026-02-30",
    "9999-12-31",
    "0000-01-01",
    "-2026-01-01",
    "2026-13-01",
    "2026-1-1",
    "tenant_id",
    "percent_used desc",
    "percent_used DESC",
    "tenant_id desc",
    "\"1\"",
];

pub(crate) fn nasty() -> impl Strategy<Value = String> {
    prop::sample::select(NASTY).prop_map(str::to_owned)
}

/// Any string a caller could send, below the message cap.
pub(crate) fn text() -> BoxedStrategy<String> {
    prop_oneof![
        3 => nasty(),
        2 => "[a-z0-9-]{0,70}",
        2 => any::<String>(),
        1 => "\\PC{0,200}",
        1 => (any::<char>(), 1usize..3000).prop_map(|(c, n)| c.to_string().repeat(n)),
        // PostgreSQL refuses NUL in text, so every string path must stop it first.
        1 => ("[a-z0-9-]{0,8}", "\\PC{0,8}").prop_map(|(a, b)| format!("{a}\0{b}")),
    ]
    .boxed()
}

/// A tenant id: mostly the seeded tenants or well-formed ones, else anything.
pub(crate) fn tenant_id() -> BoxedStrategy<String> {
    prop_oneof![
        3 => prop::sample::select(&["acme", "beta", "gamma", "zz-unknown"][..]).prop_map(str::to_owned),
        2 => "[a-z0-9][a-z0-9-]{0,63}",
        3 => text(),
    ]
    .boxed()
}

/// A seeded tenant mostly, so the other fields reach the database.
pub(crate) fn known_tenant() -> BoxedStrategy<String> {
    mostly(
        prop::sample::select(&["acme", "beta"][..]).prop_map(str::to_owned),
        tenant_id(),
    )
}

pub(crate) fn micros() -> BoxedStrategy<i64> {
    prop_oneof![
        prop::sample::select(
            &[
                0,
                -1,
                1,
                i64::MIN,
                i64::MAX,
                i64::MIN + 1,
                i64::MAX - 1,
                10_000_000_000_000,
                10_000_000_000_001,
                500_000_000,
            ][..]
        ),
        1i64..=10_000_000_000_000,
        any::<i64>(),
    ]
    .boxed()
}

pub(crate) fn small_int() -> BoxedStrategy<i32> {
    prop_oneof![
        prop::sample::select(
            &[
                0,
                -1,
                1,
                i32::MIN,
                i32::MAX,
                49,
                50,
                80,
                100,
                101,
                110,
                150,
                151,
                6,
                7,
                90,
                91
            ][..]
        ),
        -10i32..300,
        any::<i32>(),
    ]
    .boxed()
}

pub(crate) fn duration() -> BoxedStrategy<String> {
    prop_oneof![
        2 => prop::sample::select(&["30d", "60d", "90d"][..]).prop_map(str::to_owned),
        1 => text(),
    ]
    .boxed()
}

pub(crate) fn timestamp() -> BoxedStrategy<Option<prost_types::Timestamp>> {
    let now = chrono::Utc::now().timestamp();
    let seconds = prop_oneof![
        prop::sample::select(vec![
            0,
            -1,
            i64::MIN,
            i64::MAX,
            253_402_300_799,
            253_402_300_800,
            now,
            now - 86_400,
            now + 86_400,
            now + 400 * 86_400,
        ]),
        (now - 1_000_000..now + 100_000_000),
        any::<i64>(),
        // Within the next month: a valid expiry.
        (now + 3600..now + 30 * 86_400),
        (now + 3600..now + 30 * 86_400),
    ];
    let nanos = prop_oneof![
        Just(0),
        Just(0),
        0..1_000_000_000,
        Just(-1),
        Just(999_999_999),
        Just(1_000_000_000),
        Just(i32::MAX),
        Just(i32::MIN),
        any::<i32>(),
    ];
    prop::option::weighted(0.9, (seconds, nanos))
        .prop_map(|t| t.map(|(seconds, nanos)| prost_types::Timestamp { seconds, nanos }))
        .boxed()
}

/// Mostly `valid`, sometimes anything: most generated requests then have one or two bad
/// fields, so each field's validation is reached and well-formed requests get through.
pub(crate) fn mostly<T: std::fmt::Debug + 'static>(
    valid: impl Strategy<Value = T> + 'static,
    anything: impl Strategy<Value = T> + 'static,
) -> BoxedStrategy<T> {
    prop_oneof![4 => valid, 1 => anything].boxed()
}

pub(crate) fn budget_config() -> BoxedStrategy<Option<pb::BudgetConfig>> {
    let fields = (
        mostly(1i64..=10_000_000_000_000, micros()),
        mostly(50i32..=100, small_int()),
        mostly(100i32..=150, small_int()),
        duration(),
        mostly(Just(String::new()), tenant_id()),
        mostly(Just(String::new()), text()),
    );
    let some = fields.prop_map(|(budget, alert, grace, duration, tenant_id, etag)| {
        Some(pb::BudgetConfig {
            tenant_id,
            max_budget_micros: budget,
            alert_threshold_percent: alert,
            grace_threshold_percent: grace,
            budget_duration: duration,
            etag,
            ..Default::default()
        })
    });
    prop_oneof![
        1 => Just(None),
        1 => Just(Some(config(200, 80, 110, "30d"))),
        10 => some,
    ]
    .boxed()
}

/// Unpadded URL-safe base64, the encoding of our page tokens.
pub(crate) fn base64_url(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, b)| n | u32::from(*b) << (16 - 8 * i));
        for i in 0..=chunk.len() {
            out.push(char::from(ALPHABET[(n >> (18 - 6 * i) & 63) as usize]));
        }
    }
    out
}

/// A page token: garbage, or well-formed base64 of a payload we did not write.
pub(crate) fn page_token() -> BoxedStrategy<String> {
    let kinds = prop::sample::select(
        &[
            "tenants",
            "tenants-by-percent",
            "alerts",
            "audit",
            "other",
            "",
        ][..],
    );
    let payload = prop_oneof![
        text(),
        (any::<i64>(), any::<i64>()).prop_map(|(a, b)| format!("{a}:{b}")),
        prop::sample::select(
            &[
                "NaN:acme",
                "inf:acme",
                "-inf:zz",
                "1e308:acme",
                "50:\0",
                "9223372036854775807:1",
                "-9223372036854775808:-1",
                "253402300800000000:1",
                "-62135596800000001:1",
            ][..]
        )
        .prop_map(str::to_owned),
    ];
    // Times around the ends of chrono's and PostgreSQL's ranges, as cursor positions.
    let cursor = (
        prop::sample::select(&["alerts", "audit"][..]),
        prop_oneof![
            prop::sample::select(
                &[
                    0,
                    -1,
                    -210_866_803_200_000_001,
                    -8_000_000_000_000_000_000,
                    8_000_000_000_000_000_000,
                    8_210_298_412_799_999_999,
                    253_402_300_800_000_000,
                    i64::MIN,
                    i64::MAX
                ][..]
            ),
            any::<i64>()
        ],
        any::<i64>(),
    )
        .prop_map(|(kind, micros, id)| base64_url(format!("{kind}:{micros}:{id}").as_bytes()));
    let crafted = (kinds, payload)
        .prop_map(|(kind, payload)| base64_url(format!("{kind}:{payload}").as_bytes()));
    prop_oneof![1 => text(), 2 => crafted, 2 => cursor].boxed()
}

pub(crate) fn target() -> BoxedStrategy<pb::NotificationTarget> {
    let url = prop_oneof![
        6 => Just("https://hooks.example.com/x".to_owned()),
        2 => "https://[a-z]{1,10}\\.example/[a-zA-Z0-9/%?=&]{0,40}",
        1 => Just("http://[::1]:1/".to_owned()),
        1 => Just("https://u:p@example.com/a?b=c#d".to_owned()),
        1 => Just("ftp://example.com/".to_owned()),
        1 => Just("https://example.com/\0".to_owned()),
        1 => Just("https://exa\0mple.com/".to_owned()),
        1 => Just(format!("https://example.com/{}", "a".repeat(2100))),
        2 => text(),
    ];
    let secret = prop_oneof![
        2 => Just(String::new()),
        4 => Just("0123456789abcdef".to_owned()),
        4 => "\\PC{16,64}",
        2 => Just("\0".repeat(16)),
        1 => Just("é".repeat(256)),
        1 => Just("x".repeat(257)),
        2 => text(),
    ];
    (
        mostly(
            Just(String::new()),
            prop_oneof![Just("1".to_owned()), text()],
        ),
        mostly(1i32..=2, small_int()),
        url,
        secret,
        mostly("[a-zA-Z0-9 ]{0,30}", text()),
        any::<bool>(),
        text(),
    )
        .prop_map(
            |(target_id, kind, url, secret, description, has_secret, url_origin)| {
                pb::NotificationTarget {
                    target_id,
                    kind: kind.rem_euclid(4),
                    url,
                    secret,
                    has_secret,
                    description,
                    create_time: None,
                    url_origin,
                }
            },
        )
        .boxed()
}

pub(crate) fn key_hash() -> BoxedStrategy<String> {
    prop_oneof![
        text(),
        "[0-9a-f]{64}",
        "[0-9A-F]{64}",
        "[0-9a-f]{63}",
        Just(format!("{}\0", "a".repeat(63))),
        Just("sk-1234".to_owned()),
    ]
    .boxed()
}
