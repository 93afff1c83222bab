//! Reading HTML forms the way a browser submits them, and deciding what to
//! submit on a page met during an authorization flow.
//!
//! The parser is deliberately generic: it knows nothing of Tessera's templates.
//! It finds every `<form>` (action, method), its named `<input>`, `<textarea>`
//! and submit `<button>` controls, skipping comments, scripts and styles.

use anyhow::{Context, Result, anyhow};
use url::Url;

/// One named form control.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Control {
    /// The `name` attribute.
    pub name: String,
    /// Lower-case `type` (`text` when absent; `submit` for buttons without a type).
    pub kind: String,
    /// The `value` attribute (entity-decoded).
    pub value: String,
    /// Whether a checkbox or radio button is `checked`.
    pub checked: bool,
    /// Whether the control is a `<button>` rather than an `<input>`.
    pub is_button: bool,
}

impl Control {
    fn is_submitter(&self) -> bool {
        matches!(self.kind.as_str(), "submit" | "image")
    }
}

/// One `<form>` element.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Form {
    /// The `action` attribute (empty: the page itself).
    pub action: String,
    /// Lower-case `method` (`get` when absent).
    pub method: String,
    /// Controls in document order.
    pub controls: Vec<Control>,
}

impl Form {
    /// Whether this is a password login form.
    fn is_login(&self, pass_field: &str) -> bool {
        self.controls
            .iter()
            .any(|c| !c.is_button && (c.kind == "password" || c.name == pass_field))
    }

    /// The name/value pairs a browser sends when the first submit button is
    /// pressed (HTML "constructing the entry list", for the controls we model).
    pub fn entries(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        let mut submitted = false;
        for c in &self.controls {
            if c.is_submitter() {
                if !submitted {
                    submitted = true;
                    if c.kind != "image" && !c.name.is_empty() {
                        out.push((c.name.clone(), c.value.clone()));
                    }
                }
                continue;
            }
            match c.kind.as_str() {
                "checkbox" | "radio" if c.checked => {
                    let v = if c.value.is_empty() { "on" } else { &c.value };
                    out.push((c.name.clone(), v.to_owned()));
                }
                "checkbox" | "radio" | "file" | "reset" | "button" => {}
                _ if c.is_button => {}
                _ => out.push((c.name.clone(), c.value.clone())),
            }
        }
        out
    }
}

/// Login credentials and the form field names to put them in.
#[derive(Clone, Copy, Debug)]
pub struct Credentials<'a> {
    /// The login name.
    pub username: &'a str,
    /// The password.
    pub password: &'a str,
    /// Preferred name of the username input.
    pub user_field: &'a str,
    /// Preferred name of the password input.
    pub pass_field: &'a str,
}

/// The request to send after an HTML page.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Submission {
    /// Where to send it.
    pub url: Url,
    /// Form body of a POST; `None` for a GET (entries are in `url`'s query).
    pub body: Option<Vec<(String, String)>>,
    /// Whether credentials were filled in.
    pub is_login: bool,
}

/// Decides what to submit on a page of the authorization flow.
///
/// A form with a password input is a login form: every entry keeps its value
/// (hidden CSRF fields and the like) and the username and password inputs get
/// the credentials. The username input is `user_field`, else the first of
/// `username`, `login`, `email`, `user`, `identifier`, else the first text or
/// email input. Without a login form the first form (a consent page, say) is
/// submitted as it stands, with its first submit button.
pub fn plan_submission(page: &Url, html: &str, creds: &Credentials<'_>) -> Result<Submission> {
    let forms = parse_forms(html);
    let login = forms.iter().find(|f| f.is_login(creds.pass_field));
    let form = login
        .or_else(|| forms.first())
        .ok_or_else(|| anyhow!("no <form> on {page}"))?;
    let mut entries = form.entries();
    if login.is_some() {
        let user_name = [
            creds.user_field,
            "username",
            "login",
            "email",
            "user",
            "identifier",
        ]
        .into_iter()
        .find(|n| form.controls.iter().any(|c| c.name == *n))
        .map(str::to_owned)
        .or_else(|| {
            form.controls
                .iter()
                .find(|c| matches!(c.kind.as_str(), "text" | "email"))
                .map(|c| c.name.clone())
        })
        .ok_or_else(|| anyhow!("login form on {page} has no username input"))?;
        let pass_name = form
            .controls
            .iter()
            .find(|c| c.name == creds.pass_field)
            .or_else(|| form.controls.iter().find(|c| c.kind == "password"))
            .map(|c| c.name.clone())
            .ok_or_else(|| anyhow!("login form on {page} has no password input"))?;
        set_entry(&mut entries, &user_name, creds.username);
        set_entry(&mut entries, &pass_name, creds.password);
    }
    let mut url = if form.action.is_empty() {
        page.clone()
    } else {
        page.join(&form.action)
            .with_context(|| format!("form action {:?} on {page}", form.action))?
    };
    url.set_fragment(None);
    let body = if form.method == "post" {
        Some(entries)
    } else {
        url.query_pairs_mut().clear().extend_pairs(entries.iter());
        None
    };
    Ok(Submission {
        url,
        body,
        is_login: login.is_some(),
    })
}

fn set_entry(entries: &mut Vec<(String, String)>, name: &str, value: &str) {
    match entries.iter_mut().find(|(n, _)| n == name) {
        Some(e) => value.clone_into(&mut e.1),
        None => entries.push((name.to_owned(), value.to_owned())),
    }
}

/// Every form of a page, in document order.
pub fn parse_forms(html: &str) -> Vec<Form> {
    let mut forms: Vec<Form> = Vec::new();
    let mut open = false;
    let mut rest = html;
    while let Some(lt) = rest.find('<') {
        rest = rest.get(lt + 1..).unwrap_or("");
        if let Some(after) = rest.strip_prefix("!--") {
            rest = after
                .find("-->")
                .and_then(|i| after.get(i + 3..))
                .unwrap_or("");
            continue;
        }
        let Some(tag) = parse_tag(rest) else {
            continue;
        };
        rest = tag.rest;
        match (tag.closing, tag.name.as_str()) {
            (false, "script" | "style" | "textarea" | "title") => {
                // Raw text up to the matching end tag.
                let end = find_ci(rest, &format!("</{}", tag.name)).unwrap_or(rest.len());
                let text = rest.get(..end).unwrap_or("");
                rest = rest.get(end..).unwrap_or("");
                if tag.name == "textarea"
                    && open
                    && let Some(name) = tag.attr("name")
                    && let Some(form) = forms.last_mut()
                {
                    form.controls.push(Control {
                        name: name.to_owned(),
                        kind: "textarea".to_owned(),
                        value: decode_entities(text.strip_prefix('\n').unwrap_or(text)),
                        checked: false,
                        is_button: false,
                    });
                }
            }
            (false, "form") => {
                open = true;
                forms.push(Form {
                    action: tag.attr("action").unwrap_or_default().trim().to_owned(),
                    method: tag
                        .attr("method")
                        .map_or_else(|| "get".to_owned(), str::to_ascii_lowercase),
                    controls: Vec::new(),
                });
            }
            (true, "form") => open = false,
            (false, "input" | "button") if open => {
                let is_button = tag.name == "button";
                let default_kind = if is_button { "submit" } else { "text" };
                let control = Control {
                    name: tag.attr("name").unwrap_or_default().to_owned(),
                    kind: tag
                        .attr("type")
                        .unwrap_or(default_kind)
                        .to_ascii_lowercase(),
                    value: tag.attr("value").unwrap_or_default().to_owned(),
                    checked: tag.attr("checked").is_some(),
                    is_button,
                };
                // Unnamed controls send nothing, but an unnamed submit button is
                // still the one a user presses first, so it is kept.
                if (!control.name.is_empty() || control.is_submitter())
                    && let Some(form) = forms.last_mut()
                {
                    form.controls.push(control);
                }
            }
            _ => {}
        }
    }
    forms
}

/// A start or end tag.
struct Tag<'a> {
    name: String,
    closing: bool,
    attrs: Vec<(String, String)>,
    /// The text after the tag's `>`.
    rest: &'a str,
}

impl Tag<'_> {
    fn attr(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Parses a tag starting just after its `<`; `None` when this `<` opens no tag.
fn parse_tag(s: &str) -> Option<Tag<'_>> {
    let (closing, s) = match s.strip_prefix('/') {
        Some(r) => (true, r),
        None => (false, s),
    };
    let name_len = s
        .find(|c: char| !c.is_ascii_alphanumeric() && c != '-')
        .unwrap_or(s.len());
    if name_len == 0 || !s.starts_with(|c: char| c.is_ascii_alphabetic()) {
        return None;
    }
    let name = s.get(..name_len)?.to_ascii_lowercase();
    let mut rest = s.get(name_len..)?;
    let mut attrs = Vec::new();
    loop {
        rest = rest.trim_start_matches(|c: char| c.is_ascii_whitespace() || c == '/');
        if rest.is_empty() {
            break;
        }
        if let Some(after) = rest.strip_prefix('>') {
            rest = after;
            break;
        }
        let n_end = rest
            .find(|c: char| c.is_ascii_whitespace() || matches!(c, '=' | '>' | '/'))
            .unwrap_or(rest.len())
            .max(1);
        let attr_name = rest.get(..n_end)?.to_ascii_lowercase();
        rest = rest.get(n_end..)?.trim_start();
        let mut value = String::new();
        if let Some(after_eq) = rest.strip_prefix('=') {
            let v = after_eq.trim_start();
            let quote = v.chars().next().filter(|c| *c == '"' || *c == '\'');
            if let Some(q) = quote {
                let body = v.get(1..)?;
                let end = body.find(q).unwrap_or(body.len());
                value = decode_entities(body.get(..end)?);
                rest = body.get(end + 1..).unwrap_or("");
            } else {
                let end = v
                    .find(|c: char| c.is_ascii_whitespace() || c == '>')
                    .unwrap_or(v.len());
                value = decode_entities(v.get(..end)?);
                rest = v.get(end..)?;
            }
        }
        if !attrs.iter().any(|(n, _)| *n == attr_name) {
            attrs.push((attr_name, value)); // the first of duplicate attributes wins
        }
    }
    Some(Tag {
        name,
        closing,
        attrs,
        rest,
    })
}

/// Case-insensitive (ASCII) search.
fn find_ci(haystack: &str, needle: &str) -> Option<usize> {
    let n = needle.len();
    (0..=haystack.len().checked_sub(n)?).find(|&i| {
        haystack
            .get(i..i + n)
            .is_some_and(|w| w.eq_ignore_ascii_case(needle))
    })
}

/// Decodes the character references that appear in attribute values: the XML
/// five, `&nbsp;`, and numeric ones. Unknown references stay as written.
pub fn decode_entities(s: &str) -> String {
    if !s.contains('&') {
        return s.to_owned();
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(amp) = rest.find('&') {
        out.push_str(rest.get(..amp).unwrap_or(""));
        rest = rest.get(amp..).unwrap_or("");
        let decoded = rest
            .get(1..)
            .and_then(|r| r.find(';').filter(|&i| i <= 10).map(|i| (r, i)))
            .and_then(|(r, i)| {
                let ent = r.get(..i)?;
                let c = match ent {
                    "amp" => '&',
                    "lt" => '<',
                    "gt" => '>',
                    "quot" => '"',
                    "apos" => '\'',
                    "nbsp" => '\u{a0}',
                    _ => {
                        let num = ent.strip_prefix('#')?;
                        let code = match num.strip_prefix(['x', 'X']) {
                            Some(hex) => u32::from_str_radix(hex, 16).ok()?,
                            None => num.parse().ok()?,
                        };
                        char::from_u32(code)?
                    }
                };
                Some((c, i + 2))
            });
        match decoded {
            Some((c, len)) => {
                out.push(c);
                rest = rest.get(len..).unwrap_or("");
            }
            None => {
                out.push('&');
                rest = rest.get(1..).unwrap_or("");
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const CREDS: Credentials<'static> = Credentials {
        username: "user7",
        password: "s3cret&pass",
        user_field: "username",
        pass_field: "password",
    };

    /// The shape of Tessera's login page (api/templates/login.html), with the
    /// passkey form present.
    const TESSERA_LOGIN: &str = r#"<!doctype html><html><head><title>Sign in</title>
<style>form > p { color: red }</style></head><body>
<h1>Sign in to Bench</h1>
<!-- <form action="/decoy"><input type="password" name="password"></form> -->
<form method="post" action="/t/bench/login?return=%2Ft%2Fbench%2Fauthorize&amp;x=1">
<input type="hidden" name="interaction" value="ia_123">
<input type="hidden" name="csrf_token" value="c&#x2F;s&#43;rf">
<label for="username">Username or email</label>
<input type="text" id="username" name="username" value="" autocomplete="username webauthn" required autofocus>
<label for="password">Password</label>
<input type="password" id="password" name="password" autocomplete="current-password" required>
<button type="submit">Sign in</button>
</form>
<form class="passkey" method="post" action="/t/bench/passkey/finish">
<input type="hidden" name="interaction" value="ia_123">
<input type="hidden" name="purpose" value="login">
<button type="button" data-passkey="get" data-options="{&quot;a&quot;:1}">Sign in with a passkey</button>
</form>
<script>if (a < b && "<form>") {}</script>
</body></html>"#;

    #[test]
    fn fills_tessera_login_form() {
        let page = Url::parse("https://id.example.com/t/bench/login?i=1").unwrap();
        let sub = plan_submission(&page, TESSERA_LOGIN, &CREDS).unwrap();
        assert!(sub.is_login);
        assert_eq!(
            sub.url.as_str(),
            "https://id.example.com/t/bench/login?return=%2Ft%2Fbench%2Fauthorize&x=1"
        );
        assert_eq!(
            sub.body.unwrap(),
            vec![
                ("interaction".to_owned(), "ia_123".to_owned()),
                ("csrf_token".to_owned(), "c/s+rf".to_owned()),
                ("username".to_owned(), "user7".to_owned()),
                ("password".to_owned(), "s3cret&pass".to_owned()),
            ]
        );
    }

    #[test]
    fn finds_all_forms_but_not_commented_or_scripted_ones() {
        let forms = parse_forms(TESSERA_LOGIN);
        assert_eq!(forms.len(), 2);
        assert_eq!(forms[1].action, "/t/bench/passkey/finish");
        // The type=button control is kept but never submitted.
        assert_eq!(
            forms[1].entries(),
            vec![
                ("interaction".to_owned(), "ia_123".to_owned()),
                ("purpose".to_owned(), "login".to_owned()),
            ]
        );
    }

    #[test]
    fn consent_form_submits_first_button() {
        let html = r#"<form method="POST" action="consent">
<input type="hidden" name="interaction" value="i">
<input type="hidden" name="csrf_token" value="t">
<input type="checkbox" name="remember" value="yes" checked>
<input type="checkbox" name="share">
<button type="submit" name="decision" value="allow">Allow</button>
<button type="submit" name="decision" value="deny">Deny</button>
</form>"#;
        let page = Url::parse("http://127.0.0.1:3120/t/bench/consent/x").unwrap();
        let sub = plan_submission(&page, html, &CREDS).unwrap();
        assert!(!sub.is_login);
        assert_eq!(
            sub.url.as_str(),
            "http://127.0.0.1:3120/t/bench/consent/consent"
        );
        assert_eq!(
            sub.body.unwrap(),
            vec![
                ("interaction".to_owned(), "i".to_owned()),
                ("csrf_token".to_owned(), "t".to_owned()),
                ("remember".to_owned(), "yes".to_owned()),
                ("decision".to_owned(), "allow".to_owned()),
            ]
        );
    }

    #[test]
    fn unnamed_first_button_means_no_button_entry() {
        let html = r#"<form method=post><button>Go</button><button name=b value=2>x</button>
<input type=submit name=s value=S></form>"#;
        let forms = parse_forms(html);
        assert_eq!(forms[0].entries(), Vec::<(String, String)>::new());
    }

    #[test]
    fn get_form_with_unquoted_attributes_and_other_field_names() {
        let html = "<FORM action=/signin><INPUT name=csrf type=hidden value=abc>\
                    <input type=email name=login_hint><input name=pw type=password>\
                    <textarea name=note>\nhi &amp; bye</textarea></FORM>";
        let page = Url::parse("http://h.test/a/b?old=1#frag").unwrap();
        let creds = Credentials {
            user_field: "nope",
            pass_field: "nope",
            ..CREDS
        };
        let sub = plan_submission(&page, html, &creds).unwrap();
        assert!(sub.is_login);
        assert!(sub.body.is_none());
        assert_eq!(
            sub.url.as_str(),
            "http://h.test/signin?csrf=abc&login_hint=user7&pw=s3cret%26pass&note=hi+%26+bye"
        );
    }

    #[test]
    fn empty_action_posts_back_to_the_page() {
        let html = r#"<form method="post" action=""><input name="password" type="password"><input name="username"></form>"#;
        let page = Url::parse("http://h.test/login?x=1").unwrap();
        let sub = plan_submission(&page, html, &CREDS).unwrap();
        assert_eq!(sub.url.as_str(), "http://h.test/login?x=1");
    }

    #[test]
    fn pages_without_forms_are_errors() {
        let page = Url::parse("http://h.test/").unwrap();
        assert!(plan_submission(&page, "<p>oops</p>", &CREDS).is_err());
        let no_user = r#"<form method=post><input type=password name=password></form>"#;
        assert!(plan_submission(&page, no_user, &CREDS).is_err());
    }

    #[test]
    fn entities() {
        assert_eq!(decode_entities("a&amp;b&lt;&#39;&#x27;&quot;"), "a&b<''\"");
        assert_eq!(decode_entities("&unknown; & &amp"), "&unknown; & &amp");
        assert_eq!(decode_entities("caf&#233;"), "café");
    }
}
