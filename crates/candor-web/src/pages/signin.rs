use crate::pages::form::Form;
use askama::Template;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::CookieJar;
use candor_domain::audit::{activity, AuditChain, NewAuditRecord};
use candor_domain::identity::SessionPrincipal;
use governor::clock::{Clock as _, DefaultClock};
use serde::Deserialize;

use super::{notice_text, presession_csrf, render_with, PageCtx};
use crate::auth::extract::{page_language, resolve_principal, ClientIp};
use crate::auth::session::{self, SESSION_COOKIE};
use crate::error::ApiError;
use crate::AppState;
use candor_app::identity::{sign_in, SignedIn};

#[derive(Template)]
#[template(path = "signin.html")]
struct SignInPage {
    title: String,
    page: PageCtx,
    intro: String,
    action: &'static str,
    email: String,
    other_href: &'static str,
    other_label: String,
}

#[derive(Deserialize, Default)]
pub struct SignInQuery {
    notice: Option<String>,
}

#[derive(Deserialize)]
pub struct SignInForm {
    email: String,
    password: String,
}

fn sign_in_page(
    state: &AppState,
    headers: &HeaderMap,
    csrf: String,
    operator: bool,
    email: String,
) -> SignInPage {
    let lang = page_language(headers, None, None);
    let path = if operator {
        "/console/signin"
    } else {
        "/signin"
    };
    let page = PageCtx::anonymous(state, lang, csrf, path);
    let tr = page.tr.clone();
    let (title, intro, other_href, other_label) = if operator {
        (
            "signin-console-title",
            "signin-console-intro",
            "/signin",
            "signin-to-portal",
        )
    } else {
        (
            "signin-title",
            "signin-intro",
            "/console/signin",
            "signin-to-console",
        )
    };
    SignInPage {
        title: tr.t(title),
        intro: tr.t(intro),
        action: if operator {
            "/console/signin"
        } else {
            "/signin"
        },
        email,
        other_href,
        other_label: tr.t(other_label),
        page,
    }
}

async fn form(
    state: AppState,
    jar: CookieJar,
    headers: HeaderMap,
    q: SignInQuery,
    operator: bool,
) -> Response {
    let (jar, csrf) = presession_csrf(&state, jar);
    let mut page = sign_in_page(&state, &headers, csrf, operator, String::new());
    page.page.notice = notice_text(&page.page.tr, q.notice.as_deref());
    (jar, render_with(StatusCode::OK, &page)).into_response()
}

pub async fn tenant_form(
    State(state): State<AppState>,
    jar: CookieJar,
    headers: HeaderMap,
    Query(q): Query<SignInQuery>,
) -> Response {
    form(state, jar, headers, q, false).await
}

pub async fn console_form(
    State(state): State<AppState>,
    jar: CookieJar,
    headers: HeaderMap,
    Query(q): Query<SignInQuery>,
) -> Response {
    form(state, jar, headers, q, true).await
}

async fn submit(
    state: AppState,
    jar: CookieJar,
    headers: HeaderMap,
    ip: Option<String>,
    form: SignInForm,
    operator: bool,
) -> Response {
    let (jar, csrf) = presession_csrf(&state, jar);
    let key = format!(
        "{}:{}",
        if operator { "op" } else { "user" },
        form.email.trim().to_lowercase()
    );
    if let Err(not_until) = state.sign_in_limiter.check_key(&key) {
        let wait = not_until
            .wait_time_from(DefaultClock::default().now())
            .as_secs()
            + 1;
        let mut page = sign_in_page(&state, &headers, csrf, operator, form.email);
        page.page.error = Some(
            page.page
                .tr
                .t1("signin-throttled", "seconds", &wait.to_string()),
        );
        let mut response = render_with(StatusCode::TOO_MANY_REQUESTS, &page);
        if let Ok(v) = wait.to_string().parse() {
            response
                .headers_mut()
                .insert(axum::http::header::RETRY_AFTER, v);
        }
        return (jar, response).into_response();
    }
    match sign_in(
        &state.core,
        operator,
        &form.email,
        &form.password,
        ip.clone(),
    )
    .await
    .map_err(ApiError::from)
    {
        Ok(who) => {
            let (principal, home) = match who {
                SignedIn::TenantUser(u) => (
                    SessionPrincipal::TenantUser {
                        tenant_id: u.tenant_id,
                        user_id: u.id,
                    },
                    "/portal",
                ),
                SignedIn::Operator(o) => {
                    (SessionPrincipal::Operator { operator_id: o.id }, "/console")
                }
            };
            match session::start(&state, principal, ip, state.clock.now()).await {
                Ok(cookie) => (jar.add(cookie), Redirect::to(home)).into_response(),
                Err(e) => e.into_response(),
            }
        }
        Err(ApiError::Unauthenticated(_)) => {
            let mut page = sign_in_page(&state, &headers, csrf, operator, form.email);
            page.page.error = Some(page.page.tr.t("signin-failed"));
            (jar, render_with(StatusCode::UNAUTHORIZED, &page)).into_response()
        }
        Err(e) => e.into_response(),
    }
}

pub async fn tenant_submit(
    State(state): State<AppState>,
    jar: CookieJar,
    headers: HeaderMap,
    ClientIp(ip): ClientIp,
    Form(form): Form<SignInForm>,
) -> Response {
    submit(state, jar, headers, ip, form, false).await
}

pub async fn console_submit(
    State(state): State<AppState>,
    jar: CookieJar,
    headers: HeaderMap,
    ClientIp(ip): ClientIp,
    Form(form): Form<SignInForm>,
) -> Response {
    submit(state, jar, headers, ip, form, true).await
}

pub async fn sign_out(
    State(state): State<AppState>,
    jar: CookieJar,
    headers: HeaderMap,
    ClientIp(ip): ClientIp,
) -> Response {
    let mut target = "/signin?notice=signed-out";
    if let Ok(Some(s)) = session::current(&state, &headers).await {
        if let Ok(Some(who)) = resolve_principal(&state, s.principal).await {
            let chain = match who.actor.tenant_id() {
                Some(t) => AuditChain::Tenant(t),
                None => {
                    target = "/console/signin?notice=signed-out";
                    AuditChain::Operator
                }
            };
            let record =
                NewAuditRecord::by(&who.actor, chain, state.clock.now(), activity::SIGN_OUT).ip(ip);
            if let Err(e) = state.store.append_audit(vec![record]).await {
                return ApiError::from(e).into_response();
            }
        }
    }
    if let Err(e) = session::end(&state, &headers).await {
        return e.into_response();
    }
    let jar = jar.add(session::removal_cookie(&state, SESSION_COOKIE));
    (jar, Redirect::to(target)).into_response()
}
