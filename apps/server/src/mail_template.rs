//! The sign-in e-mail from the operator's template files (`[providers.template]` of an e-mail
//! provider): subject, text and HTML, rendered with minijinja.
//!
//! The built-in template's guarantees hold (domain `mail_template`):
//! * the identifier (the recipient's address) is not offered to the templates;
//! * the values are one line: control and invisible characters are removed from the host
//!   and URL, and the rendered subject is collapsed to one line (a header has one);
//! * the HTML template is auto-escaped (the text and subject are not HTML);
//! * a variable the templates do not know is an error when they are loaded, so a typo
//!   fails `portcullis config check`, not a sign-in.

use std::path::Path;
use std::sync::Arc;

use minijinja::{AutoEscape, Environment, UndefinedBehavior, Value};
use portcullis_domain::email_address::is_control_or_invisible;
use portcullis_domain::mail::{MailMessage, VerificationRequest};
use portcullis_ports::{Mailer, VerificationSender};

use crate::config::MailTemplateFiles;

const SUBJECT: &str = "subject";
const TEXT: &str = "text";
const HTML: &str = "html";

/// What the templates may use.
pub const VARIABLES: [&str; 4] = ["url", "host", "provider_name", "expires"];

/// Loaded and checked templates.
pub struct MailTemplates {
    env: Environment<'static>,
}

impl std::fmt::Debug for MailTemplates {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MailTemplates")
    }
}

impl MailTemplates {
    /// Reads and compiles the three files, then renders them once with sample data: a
    /// syntax error, an unknown variable or a failing filter is reported here, naming the
    /// file.
    pub fn load(files: &MailTemplateFiles) -> Result<Self, String> {
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        env.set_auto_escape_callback(|name| {
            if name == HTML {
                AutoEscape::Html
            } else {
                AutoEscape::None
            }
        });
        for (name, path) in [
            (SUBJECT, &files.subject),
            (TEXT, &files.text),
            (HTML, &files.html),
        ] {
            let source = std::fs::read_to_string(path)
                .map_err(|e| format!("{name} template {}: {e}", path.display()))?;
            env.add_template_owned(name, source)
                .map_err(|e| describe(name, path, &e))?;
            let template = env
                .get_template(name)
                .map_err(|e| describe(name, path, &e))?;
            let mut unknown: Vec<String> = template
                .undeclared_variables(false)
                .into_iter()
                .filter(|v| !VARIABLES.contains(&v.as_str()))
                .collect();
            unknown.sort();
            if !unknown.is_empty() {
                return Err(format!(
                    "{name} template {}: unknown variable(s) {}; the templates can use {}",
                    path.display(),
                    unknown.join(", "),
                    VARIABLES.join(", ")
                ));
            }
        }
        let templates = Self { env };
        templates
            .render(&sample_request(
                "http://localhost:3000/api/auth",
                "email",
                "Email",
            ))
            .map_err(|e| format!("{e} (rendering sample data)"))?;
        Ok(templates)
    }

    /// The message for `request`, addressed to its identifier.
    pub fn render(&self, request: &VerificationRequest) -> Result<MailMessage, String> {
        let context = context(request);
        let render = |name: &str| {
            self.env
                .get_template(name)
                .and_then(|t| t.render(context.clone()))
                .map_err(|e| format!("{name} template: {}", e.kind()))
        };
        let subject = one_line(&render(SUBJECT)?);
        if subject.is_empty() {
            return Err("subject template: the subject is empty".into());
        }
        Ok(MailMessage {
            to: request.identifier.clone(),
            subject,
            text: render(TEXT)?,
            html: render(HTML)?,
        })
    }
}

/// A load-time error with its file and, where minijinja knows it, the line.
fn describe(name: &str, path: &Path, error: &minijinja::Error) -> String {
    let line = error
        .line()
        .map(|l| format!(" line {l}"))
        .unwrap_or_default();
    let detail = error.detail().unwrap_or("");
    format!(
        "{name} template {}{line}: {}{}{detail}",
        path.display(),
        error.kind(),
        if detail.is_empty() { "" } else { ": " }
    )
}

fn context(request: &VerificationRequest) -> Value {
    let expires = request
        .expires
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default();
    minijinja::context! {
        url => clean(&request.url),
        host => clean(&request.host),
        provider_name => clean(&request.provider_name),
        expires => expires,
    }
}

/// The value without control or invisible characters (never a second line).
fn clean(value: &str) -> String {
    value
        .chars()
        .filter(|c| !is_control_or_invisible(*c))
        .collect()
}

/// One header line: every run of whitespace, control or invisible characters becomes one
/// space, and the ends are trimmed (a template file's final newline, a multi-line subject).
fn one_line(value: &str) -> String {
    value
        .split(|c: char| c.is_whitespace() || is_control_or_invisible(c))
        .filter(|word| !word.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// The request `portcullis mail preview` renders: a sign-in link for
/// `jane@example.com` under `base_url` (the site's auth URL) from provider `id`.
pub fn sample_request(base_url: &str, id: &str, name: &str) -> VerificationRequest {
    let base = base_url.trim_end_matches('/');
    let host = base
        .split_once("://")
        .map(|(_, rest)| rest)
        .unwrap_or(base)
        .split(['/', '?', '#'])
        .next()
        .unwrap_or("")
        .to_owned();
    VerificationRequest {
        identifier: "jane@example.com".into(),
        url: format!(
            "{base}/callback/{id}?email=jane%40example.com&token=0123456789abcdef0123456789abcdef"
        ),
        host,
        provider_id: id.into(),
        provider_name: name.into(),
        expires: time::OffsetDateTime::UNIX_EPOCH + time::Duration::days(20_000),
    }
}

/// `portcullis mail preview`: the message the e-mail provider `id` (default: the first one)
/// would send, rendered with [`sample_request`] under the site's URL.
pub fn preview(config: &crate::ServerConfig, id: Option<&str>) -> Result<MailMessage, String> {
    let email = config
        .providers
        .iter()
        .filter_map(|p| match p {
            crate::ProviderConfig::Email(e) => Some(e),
            _ => None,
        })
        .find(|e| id.is_none_or(|id| e.id == id))
        .ok_or_else(|| match id {
            Some(id) => format!("no e-mail provider {id:?} in the configuration"),
            None => "no e-mail provider in the configuration".to_owned(),
        })?;
    let request = sample_request(&config.effective_url(), &email.id, &email.name);
    match &email.template {
        Some(files) => MailTemplates::load(files)
            .and_then(|t| t.render(&request))
            .map_err(|e| format!("provider {:?}: {e}", email.id)),
        None => Ok(portcullis_domain::mail::render_verification_email(
            &request, None,
        )),
    }
}

/// Delivers magic links rendered from the operator's templates through a [`Mailer`].
pub struct TemplatedSender {
    templates: Arc<MailTemplates>,
    mailer: Arc<dyn Mailer>,
}

impl TemplatedSender {
    /// A sender that renders with `templates` and sends through `mailer`.
    pub fn new(templates: Arc<MailTemplates>, mailer: Arc<dyn Mailer>) -> Self {
        Self { templates, mailer }
    }
}

#[async_trait::async_trait]
impl VerificationSender for TemplatedSender {
    async fn send_verification_request(&self, request: &VerificationRequest) -> Result<(), String> {
        let message = self.templates.render(request)?;
        self.mailer.send(message).await.map_err(|e| e.to_string())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use std::path::PathBuf;

    fn files(dir: &Path, subject: &str, text: &str, html: &str) -> MailTemplateFiles {
        let write = |name: &str, body: &str| {
            let path = dir.join(name);
            std::fs::write(&path, body).unwrap();
            path
        };
        MailTemplateFiles {
            subject: write("subject.txt", subject),
            text: write("text.txt", text),
            html: write("body.html", html),
        }
    }

    fn load(subject: &str, text: &str, html: &str) -> Result<MailTemplates, String> {
        let dir = tempfile::tempdir().unwrap();
        MailTemplates::load(&files(dir.path(), subject, text, html))
    }

    fn request(host: &str, url: &str) -> VerificationRequest {
        VerificationRequest {
            host: host.into(),
            url: url.into(),
            ..sample_request("https://example.com/api/auth", "email", "Email")
        }
    }

    #[test]
    fn renders_subject_text_and_html() {
        let t = load(
            "Your link for {{ host }}\n",
            "Hello,\n{{ url }}\nvalid until {{ expires }}\n",
            "<a href=\"{{ url }}\">Sign in to {{ host }} with {{ provider_name }}</a>",
        )
        .unwrap();
        let r = sample_request("https://example.com/api/auth", "email", "Email");
        let m = t.render(&r).unwrap();
        assert_eq!(m.to, "jane@example.com");
        assert_eq!(m.subject, "Your link for example.com");
        assert!(m.text.contains(&r.url), "{}", m.text);
        assert!(m.text.contains("2024-10-04T00:00:00Z"), "{}", m.text);
        assert!(
            m.html.contains("https:&#x2f;&#x2f;example.com&#x2f;api&#x2f;auth&#x2f;callback&#x2f;email?email=jane%40example.com&amp;token="),
            "{}",
            m.html
        );
        assert!(m.html.contains("Sign in to example.com with Email"));
    }

    #[test]
    fn html_is_escaped_and_text_is_not() {
        let t = load(
            "{{ host }}",
            "{{ url }}",
            "<p>{{ host }}</p><a href=\"{{ url }}\">x</a>",
        )
        .unwrap();
        let m = t
            .render(&request(
                "evil.example<script>alert(1)</script>",
                "https://evil.example/?a=\"><script>alert(2)</script>",
            ))
            .unwrap();
        assert!(!m.html.contains("<script>"), "{}", m.html);
        assert!(
            m.html
                .contains("&lt;script&gt;alert(1)&lt;&#x2f;script&gt;"),
            "{}",
            m.html
        );
        assert!(!m.html.contains("\"><"), "{}", m.html);
        assert!(m.text.contains("<script>alert(2)</script>"));
    }

    #[test]
    fn the_identifier_is_not_offered() {
        for bad in ["{{ identifier }}", "{{ email }}", "{{ to }}"] {
            let err = load(bad, "x", "x").expect_err(bad);
            assert!(
                err.contains("unknown variable") && err.contains("subject"),
                "{err}"
            );
        }
    }

    #[test]
    fn headers_stay_one_line() {
        let t = load(
            "Sign in\r\nBcc: victim@example.com\n\n to {{ host }}",
            "x",
            "x",
        )
        .unwrap();
        let m = t
            .render(&request(
                "example.com\r\nBcc: evil@example.com",
                "https://example.com/x",
            ))
            .unwrap();
        assert_eq!(
            m.subject,
            "Sign in Bcc: victim@example.com to example.comBcc: evil@example.com"
        );
        assert!(!m.subject.contains(['\r', '\n']));
        assert!(load("  \n", "x", "x").err().unwrap().contains("empty"));
    }

    #[test]
    fn typos_and_syntax_errors_fail_at_load_naming_the_file() {
        let err = load("{{ hsot }}", "x", "x").err().unwrap();
        assert!(err.contains("hsot") && err.contains("subject.txt"), "{err}");
        let err = load("x", "{{ url.nope }}", "x").err().unwrap();
        assert!(err.contains("text template"), "{err}");
        let err = load("x", "x", "{% if url %}").err().unwrap();
        assert!(err.contains("body.html"), "{err}");
        let err = load("x", "{{ url | no_such_filter }}", "x").err().unwrap();
        assert!(err.contains("text template"), "{err}");
        let missing = MailTemplateFiles {
            subject: PathBuf::from("/nonexistent/subject.txt"),
            text: PathBuf::from("/nonexistent/text.txt"),
            html: PathBuf::from("/nonexistent/body.html"),
        };
        let err = MailTemplates::load(&missing).err().unwrap();
        assert!(err.contains("/nonexistent/subject.txt"), "{err}");
    }
}
