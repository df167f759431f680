//! Recognises credentials baked into an image: private keys by their PEM header, cloud keys and
//! API tokens by their fixed shapes, `.env` files by name, and secret-looking variables in ENV
//! and in build history. Nothing here ever returns a secret's value, only what it is.

/// Files larger than this are not scanned for keys (keys and `.env` files are small; reading
/// every big file would cost time for nothing).
pub const SCAN_LIMIT: u64 = 64 << 10;

/// What was recognised, for a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Secret {
    PrivateKey,
    /// A token shape: AWS access key id, GitHub, Slack, Google API key, Stripe live key.
    Token(&'static str),
}

impl Secret {
    pub fn describe(self) -> &'static str {
        match self {
            Secret::PrivateKey => "a private key",
            Secret::Token(what) => what,
        }
    }
}

/// Bytes every recognised shape contains at a fixed offset: `-` (`-----BEGIN`, `xoxb-`), `A`
/// (`AKIA`, `AIza`), `_` (`ghp_`, `github_pat_`, `sk_live_`). Most bytes are none of them, so
/// the scan is one table lookup per byte; the shapes are only tried around an anchor.
const ANCHOR: [bool; 256] = {
    let mut table = [false; 256];
    table[b'-' as usize] = true;
    table[b'A' as usize] = true;
    table[b'_' as usize] = true;
    table
};

/// Everything recognised in `content`, each kind once, in a single pass.
pub fn scan(content: &[u8]) -> Vec<Secret> {
    let mut found: Vec<Secret> = Vec::new();
    let mut note = |secret: Secret| {
        if !found.contains(&secret) {
            found.push(secret);
        }
    };
    // A token starts a word: the byte before it is no letter or digit.
    let boundary = |i: usize| i == 0 || !content[i - 1].is_ascii_alphanumeric();
    let at = |start: usize, text: &[u8]| content[start..].starts_with(text);
    for (i, &byte) in content.iter().enumerate() {
        if !ANCHOR[byte as usize] {
            continue;
        }
        let rest = &content[i..];
        match byte {
            b'-' => {
                if rest.starts_with(b"-----BEGIN ") {
                    let label = &rest[11..rest.len().min(11 + 40)];
                    if let Some(end) = find(label, b"-----")
                        && find(&label[..end], b"PRIVATE KEY").is_some()
                    {
                        note(Secret::PrivateKey);
                    }
                }
                // xoxb-…: the `-` is the fifth byte.
                if let Some(start) = i.checked_sub(4)
                    && at(start, b"xox")
                    && b"abprs".contains(&content[start + 3])
                    && boundary(start)
                    && run(&rest[1..], |b| b.is_ascii_alphanumeric() || b == b'-') >= 20
                {
                    note(Secret::Token("a Slack token"));
                }
            }
            b'A' if boundary(i) => {
                if (rest.starts_with(b"AKIA") || rest.starts_with(b"ASIA"))
                    && run(&rest[4..], |b| b.is_ascii_uppercase() || b.is_ascii_digit()) == 16
                    // AWS documents its examples as AKIA...EXAMPLE; SDKs ship them.
                    && !rest[4..20].ends_with(b"EXAMPLE")
                {
                    note(Secret::Token("an AWS access key id"));
                }
                if rest.starts_with(b"AIza")
                    && run(&rest[4..], |b| {
                        b.is_ascii_alphanumeric() || b == b'_' || b == b'-'
                    }) == 35
                {
                    note(Secret::Token("a Google API key"));
                }
            }
            b'_' => {
                // ghp_…, gho_, ghu_, ghs_, ghr_: the `_` is the fourth byte.
                if let Some(start) = i.checked_sub(3)
                    && at(start, b"gh")
                    && b"pousr".contains(&content[start + 2])
                    && boundary(start)
                    && run(&rest[1..], |b| b.is_ascii_alphanumeric()) >= 36
                {
                    note(Secret::Token("a GitHub token"));
                }
                if let Some(start) = i.checked_sub(6)
                    && at(start, b"github_pat_")
                    && boundary(start)
                    && run(&content[start + 11..], |b| {
                        b.is_ascii_alphanumeric() || b == b'_'
                    }) >= 22
                {
                    note(Secret::Token("a GitHub token"));
                }
                // sk_live_…, rk_live_…: the first `_` is the third byte.
                if let Some(start) = i.checked_sub(2)
                    && (at(start, b"sk_live_") || at(start, b"rk_live_"))
                    && boundary(start)
                    && run(&content[start + 8..], |b| b.is_ascii_alphanumeric()) >= 24
                {
                    note(Secret::Token("a Stripe live key"));
                }
            }
            _ => {}
        }
    }
    found
}

/// Length of the leading run of bytes that satisfy `accept`.
fn run(bytes: &[u8], accept: impl Fn(u8) -> bool) -> usize {
    bytes.iter().take_while(|&&b| accept(b)).count()
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// `.env`, `.env.production`; not the templates meant to be committed.
pub fn is_env_file(path: &str) -> bool {
    let name = path.rsplit('/').next().unwrap_or(path);
    if name == ".env" {
        return true;
    }
    let Some(suffix) = name.strip_prefix(".env.") else {
        return false;
    };
    !matches!(
        suffix,
        "example" | "sample" | "template" | "dist" | "defaults" | "schema" | "tpl"
    )
}

/// Variable names that hold credentials by convention.
fn is_secret_name(name: &str) -> bool {
    let upper = name.to_ascii_uppercase();
    let secretive = [
        "PASSWORD",
        "PASSWD",
        "SECRET",
        "TOKEN",
        "API_KEY",
        "APIKEY",
        "ACCESS_KEY",
        "PRIVATE_KEY",
        "CREDENTIAL",
        "AUTH_KEY",
    ]
    .iter()
    .any(|word| upper.contains(word));
    // A variable that names where the secret is, not the secret itself.
    let pointer = [
        "_FILE",
        "_PATH",
        "_DIR",
        "_URL",
        "_HOST",
        "_PORT",
        "_NAME",
        "_ENDPOINT",
        "_ID",
    ]
    .iter()
    .any(|suffix| upper.ends_with(suffix));
    secretive && !pointer
}

/// A value that is a reference, not a secret: empty, `$VAR`, a placeholder.
fn is_placeholder(value: &str) -> bool {
    let value = value.trim().trim_matches(|c| c == '"' || c == '\'');
    value.is_empty()
        || value.starts_with('$')
        || value.starts_with('<')
        || matches!(
            value.to_ascii_lowercase().as_str(),
            "none" | "null" | "false" | "true" | "changeme" | "-"
        )
}

/// A `scheme://user:password@host` URL (the password not a `$VAR`).
fn url_with_password(value: &str) -> bool {
    let Some((_, rest)) = value.split_once("://") else {
        return false;
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let Some((userinfo, _)) = authority.rsplit_once('@') else {
        return false;
    };
    userinfo
        .split_once(':')
        .is_some_and(|(_, password)| !is_placeholder(password))
}

/// Why an `ENV` entry `NAME=value` looks like a credential, or `None`.
pub fn env_secret(entry: &str) -> Option<String> {
    let (name, value) = entry.split_once('=')?;
    if url_with_password(value) {
        return Some(format!(
            "{name} holds a URL with a password ({} characters)",
            value.len()
        ));
    }
    if let Some(secret) = scan(value.as_bytes()).first() {
        return Some(format!("{name} holds {}", secret.describe()));
    }
    (is_secret_name(name) && !is_placeholder(value)).then(|| {
        format!(
            "{name} is set to a {}-character value",
            value.chars().count()
        )
    })
}

/// What in one history command looks like a credential: `NAME=value` pairs (build arguments
/// as BuildKit records them, `ENV` lines), URLs with passwords, keys and tokens.
pub fn history_secrets(created_by: &str) -> Vec<String> {
    let mut found = Vec::new();
    for word in created_by.split_whitespace() {
        let word = word.trim_matches(|c| c == '"' || c == '\'' || c == ';' || c == '&');
        if word.contains("://") && url_with_password(word) {
            found.push("a URL with a password".to_string());
        } else if let Some((name, value)) = word.split_once('=')
            && !name.is_empty()
            && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
            && is_secret_name(name)
            && !is_placeholder(value)
        {
            found.push(format!("{name}=<{} characters>", value.chars().count()));
        }
    }
    for secret in scan(created_by.as_bytes()) {
        found.push(secret.describe().to_string());
    }
    found.dedup();
    found
}

/// `command` as it may be shown: values of secret-looking `NAME=value` words, URL passwords
/// and token-shaped words replaced by `…`.
pub fn redact(command: &str) -> String {
    command
        .split(' ')
        .map(|word| {
            if let Some((name, value)) = word.split_once('=')
                && !name.is_empty()
                && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
                && is_secret_name(name)
                && !is_placeholder(value)
            {
                format!("{name}=…")
            } else if word.contains("://") && url_with_password(word) {
                let (scheme, rest) = word.split_once("://").unwrap_or(("", word));
                let (userinfo, host) = rest.split_once('@').unwrap_or(("", rest));
                let user = userinfo.split(':').next().unwrap_or("");
                format!("{scheme}://{user}:…@{host}")
            } else if !scan(word.as_bytes()).is_empty() {
                "…".to_string()
            } else {
                word.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_keys_are_found_by_their_header_only() {
        for header in [
            "-----BEGIN PRIVATE KEY-----",
            "-----BEGIN RSA PRIVATE KEY-----",
            "-----BEGIN OPENSSH PRIVATE KEY-----",
            "-----BEGIN EC PRIVATE KEY-----",
        ] {
            let text = format!("junk\n{header}\nMIIE...\n");
            assert_eq!(scan(text.as_bytes()), [Secret::PrivateKey], "{header}");
        }
        assert!(scan(b"-----BEGIN CERTIFICATE-----\nMIIB\n").is_empty());
        assert!(scan(b"-----BEGIN PUBLIC KEY-----\n").is_empty());
    }

    #[test]
    fn token_shapes_are_found_but_documented_examples_are_not() {
        let key = ["AKIA", "Z7Q4", "XK2M", "P9LD", "3WQR"].concat();
        assert_eq!(
            scan(format!("aws_access_key_id = {key}\n").as_bytes()),
            [Secret::Token("an AWS access key id")]
        );
        assert!(scan(b"AKIAIOSFODNN7EXAMPLE").is_empty());
        // Part of a longer word is no key.
        assert!(scan(format!("X{key}").as_bytes()).is_empty());
        let github = format!("ghp_{}", "a1B2".repeat(9));
        assert_eq!(scan(github.as_bytes()), [Secret::Token("a GitHub token")]);
        assert!(scan(b"ghp_short").is_empty());
        let pat = format!("token: github_pat_{}", "A1_b".repeat(6));
        assert_eq!(scan(pat.as_bytes()), [Secret::Token("a GitHub token")]);
        let slack = format!("xoxb-{}", "1234567890-ab".repeat(2));
        assert_eq!(scan(slack.as_bytes()), [Secret::Token("a Slack token")]);
        let stripe = format!("key=sk_live_{}", "a1B2c3".repeat(4));
        assert_eq!(
            scan(stripe.as_bytes()),
            [Secret::Token("a Stripe live key")]
        );
        let google = format!("AIza{}", &"Sy-_0123456".repeat(4)[..35]);
        assert_eq!(scan(google.as_bytes()), [Secret::Token("a Google API key")]);
        assert!(scan(b"my_var = some_function(x) - 1; -- ASCII").is_empty());
    }

    #[test]
    fn env_files_are_found_by_name_but_not_their_templates() {
        assert!(is_env_file("app/.env"));
        assert!(is_env_file(".env.production"));
        assert!(!is_env_file("app/.env.example"));
        assert!(!is_env_file("app/env"));
        assert!(!is_env_file("app/.envrc"));
    }

    #[test]
    fn env_entries_are_judged_by_name_value_and_shape() {
        assert!(env_secret("MONGODB_PASSWORD=hunter22").is_some());
        assert!(env_secret("MONGO_URI=mongodb://admin:s3cret@mongodb:27017/app").is_some());
        assert!(env_secret("MONGO_URI=mongodb://mongodb:27017/app").is_none());
        assert!(env_secret("API_TOKEN=").is_none());
        assert!(env_secret("POSTGRES_PASSWORD_FILE=/run/secrets/db").is_none());
        assert!(env_secret("GPG_KEY=A035C8C19219BA821ECEA86B64E628F8D684696D").is_none());
        assert!(env_secret("PATH=/usr/local/bin:/usr/bin").is_none());
        let message = env_secret("DB_PASSWORD=hunter22").unwrap();
        assert!(!message.contains("hunter22"), "{message}");
    }

    #[test]
    fn commands_are_shown_without_secret_values() {
        assert_eq!(
            redact(
                "RUN |2 NPM_TOKEN=abc VERSION=1 /bin/sh -c git clone https://bob:pw@git.example/x"
            ),
            "RUN |2 NPM_TOKEN=… VERSION=1 /bin/sh -c git clone https://bob:…@git.example/x"
        );
        assert_eq!(redact("RUN make  all"), "RUN make  all");
    }

    #[test]
    fn history_reveals_build_arguments_and_urls_but_not_their_values() {
        let found = history_secrets("RUN |2 NPM_TOKEN=abcdef123 VERSION=1 /bin/sh -c npm ci");
        assert_eq!(found, ["NPM_TOKEN=<9 characters>"]);
        assert_eq!(
            history_secrets("RUN /bin/sh -c git clone https://bob:pw123@git.example/x.git"),
            ["a URL with a password"]
        );
        assert!(
            history_secrets("RUN /bin/sh -c apt-get update && rm -rf /var/lib/apt/lists/*")
                .is_empty()
        );
        assert!(history_secrets("ENV PASSWORD_FILE=/run/secrets/pw").is_empty());
    }
}
