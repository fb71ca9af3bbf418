//! Following sign-in links: once, from an address, guessed, altered, or many at once.

use cucumber::{then, when};
use http::Method;

use crate::steps::require_embedded;
use crate::world::{AuthWorld, Req, Resp, Target};

/// The link's query with `email` replaced.
fn with_email(link: &str, email: &str) -> String {
    let mut url = url::Url::parse(link).expect("the link is a URL");
    let pairs: Vec<(String, String)> = url
        .query_pairs()
        .map(|(k, v)| {
            let v = if k == "email" {
                email.to_owned()
            } else {
                v.into_owned()
            };
            (k.into_owned(), v)
        })
        .collect();
    url.query_pairs_mut().clear().extend_pairs(pairs);
    url.to_string()
}

#[when("I follow the link in the mail")]
async fn follow_link(w: &mut AuthWorld) {
    let link = w.mail().link();
    let target = w.on_site(&link).await;
    w.send(Req::new(Method::GET, &target)).await;
}

#[when(expr = "I follow the link in the mail from {word}")]
async fn follow_link_from(w: &mut AuthWorld, ip: String) {
    require_embedded(w, "choosing the client's address");
    let link = w.mail().link();
    let target = w.on_site(&link).await;
    let mut req = Req::new(Method::GET, &target);
    req.client_ip = Some(ip.parse().expect("an IP address"));
    w.send(req).await;
}

#[when(expr = "I follow the link in the mail from {word} with a guessed token {int} times")]
async fn guess_links_from(w: &mut AuthWorld, ip: String, n: usize) {
    require_embedded(w, "choosing the client's address");
    let link = w.mail().link();
    for i in 0..n {
        let mut url = url::Url::parse(&link).expect("the link is a URL");
        let pairs: Vec<(String, String)> = url
            .query_pairs()
            .map(|(k, v)| {
                let v = if k == "token" {
                    format!("guess-{i}")
                } else {
                    v.into_owned()
                };
                (k.into_owned(), v)
            })
            .collect();
        url.query_pairs_mut().clear().extend_pairs(pairs);
        let target = w.on_site(url.as_str()).await;
        let mut req = Req::new(Method::GET, &target);
        req.client_ip = Some(ip.parse().expect("an IP address"));
        w.send(req).await;
    }
}

#[when(expr = "I follow the link in the mail with the e-mail changed to {string}")]
async fn follow_link_as(w: &mut AuthWorld, email: String) {
    let link = with_email(&w.mail().link(), &email);
    let target = w.on_site(&link).await;
    w.send(Req::new(Method::GET, &target)).await;
}

#[when(expr = "{int} other browsers follow the link in the mail at the same time")]
async fn follow_link_at_once(w: &mut AuthWorld, n: usize) {
    let link = w.mail().link();
    let target = w.on_site(&link).await;
    let app = w.app().await;
    let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(n));
    let mut tasks = Vec::new();
    for _ in 0..n {
        let barrier = barrier.clone();
        let target = target.clone();
        match (w.target, w.server_addr()) {
            (Target::Embedded, _) => {
                let app = app.clone();
                tasks.push(tokio::spawn(async move {
                    let mut request = http::Request::new(bytes::Bytes::new());
                    *request.uri_mut() = target.parse().expect("a request target");
                    barrier.wait().await;
                    let response = app.handle(request).await;
                    let (parts, body) = response.into_parts();
                    (parts.status.as_u16(), parts.headers, body)
                }));
            }
            (Target::Http, addr) => {
                let addr = addr.expect("the server runs");
                let client = w.client.clone();
                tasks.push(tokio::spawn(async move {
                    barrier.wait().await;
                    let response = client
                        .get(format!("http://{addr}{target}"))
                        .send()
                        .await
                        .expect("the server answers");
                    let status = response.status().as_u16();
                    let headers = response.headers().clone();
                    let body = response.text().await.expect("a body");
                    (status, headers, body)
                }));
            }
        }
    }
    let window = crate::matching::Window::at(w.now());
    let joined = tokio::time::timeout(
        crate::world::REQUEST_TIMEOUT,
        futures::future::join_all(tasks),
    )
    .await
    .expect("the requests finish");
    w.parallel = joined
        .into_iter()
        .map(|r| {
            let (status, headers, body) = r.expect("a request panicked");
            Resp {
                status,
                headers,
                body,
                window,
            }
        })
        .collect();
}

#[then(expr = "exactly one of them was signed in, and the other {int} sent to {string}")]
async fn one_winner(w: &mut AuthWorld, losers: usize, error_url: String) {
    let session = w.cookie_name(portcullis::CookieKey::SessionToken).await;
    let base = w.setup().url.clone();
    let site = base
        .split_once("://")
        .and_then(|(scheme, rest)| Some(format!("{scheme}://{}", rest.split('/').next()?)))
        .unwrap_or_default();
    let signed_in = |r: &Resp| {
        r.status == 302
            && r.header("location").as_deref() == Some(site.as_str())
            && r.set_cookies()
                .iter()
                .any(|c| c.starts_with(&format!("{session}=")) && !c.contains("Max-Age=0"))
    };
    let refused = |r: &Resp| {
        r.status == 302
            && r.header("location").as_deref() == Some(error_url.as_str())
            && !r
                .set_cookies()
                .iter()
                .any(|c| c.starts_with(&format!("{session}=")))
    };
    let winners = w.parallel.iter().filter(|r| signed_in(r)).count();
    let refusals = w.parallel.iter().filter(|r| refused(r)).count();
    assert_eq!(
        (winners, refusals),
        (1, losers),
        "answers: {:#?}",
        w.parallel
            .iter()
            .map(|r| (r.status, r.header("location")))
            .collect::<Vec<_>>()
    );
}
