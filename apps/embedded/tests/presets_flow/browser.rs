//! A cookie-keeping "browser" in front of an embedded [`Portcullis`]: it stores what
//! `Set-Cookie` says (deleting on `Max-Age=0` or an empty value) and sends it back.

use std::collections::BTreeMap;

use bytes::Bytes;
use portcullis::Portcullis;

pub(crate) struct Page {
    pub status: u16,
    pub location: Option<String>,
    pub body: String,
    /// The names of the cookies the response set or deleted.
    pub set_cookies: Vec<String>,
}

pub(crate) struct Browser<'a> {
    app: &'a Portcullis,
    jar: BTreeMap<String, String>,
}

impl<'a> Browser<'a> {
    pub(crate) fn new(app: &'a Portcullis) -> Self {
        Self {
            app,
            jar: BTreeMap::new(),
        }
    }

    pub(crate) fn cookie(&self, name: &str) -> Option<&str> {
        self.jar.get(name).map(String::as_str)
    }

    pub(crate) async fn get(&mut self, path_and_query: &str) -> Page {
        let request = http::Request::get(path_and_query);
        self.send(request, Bytes::new(), true).await
    }

    /// A form POST; `with_cookies: false` is a cross-site POST, which carries no
    /// `SameSite=Lax` cookie.
    pub(crate) async fn post_form(
        &mut self,
        path: &str,
        form: &[(&str, &str)],
        with_cookies: bool,
    ) -> Page {
        let body = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(form)
            .finish();
        let request =
            http::Request::post(path).header("content-type", "application/x-www-form-urlencoded");
        self.send(request, Bytes::from(body), with_cookies).await
    }

    async fn send(
        &mut self,
        mut request: http::request::Builder,
        body: Bytes,
        with_cookies: bool,
    ) -> Page {
        if with_cookies && !self.jar.is_empty() {
            let cookie = self
                .jar
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join("; ");
            request = request.header("cookie", cookie);
        }
        let response = self.app.handle(request.body(body).unwrap()).await;
        let mut set_cookies = Vec::new();
        for line in response.headers().get_all("set-cookie") {
            let line = line.to_str().unwrap();
            let pair = line.split(';').next().unwrap_or_default();
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            set_cookies.push(name.to_owned());
            if line.contains("Max-Age=0") || value.is_empty() {
                self.jar.remove(name);
            } else {
                self.jar.insert(name.to_owned(), value.to_owned());
            }
        }
        Page {
            status: response.status().as_u16(),
            location: response
                .headers()
                .get("location")
                .map(|l| l.to_str().unwrap().to_owned()),
            body: response.body().clone(),
            set_cookies,
        }
    }
}
