//! The web console (issue 11): a query page served by every gateway at `/`, its assets under
//! `/console/<tag>/<file>`.
//!
//! The page, its scripts and its stylesheet are compiled into the binary (`gateway/assets/`), so the console works
//! on a machine with no internet and needs no build step. `<tag>` is a hash of the assets' bytes: an asset under
//! the current tag never changes, so it is cached for a year (`immutable`); the page itself is revalidated on
//! every load (`no-cache`), so a new binary's page names its new assets at once. Every response carries a
//! Content-Security-Policy that allows this origin only (no inline script or style, nothing from elsewhere).
//!
//! These routes are outside the API's rate limit, like the probes: loading the page is not an API call.

use std::sync::LazyLock;

use axum::extract::Path;
use axum::http::header::{CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE};
use axum::http::{HeaderName, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

use crate::error::ApiError;
use crate::state::AppState;

/// Self only: scripts, styles, images and API calls from this origin; no plugins, no framing, no `<base>`.
pub const CONTENT_SECURITY_POLICY_VALUE: &str = "default-src 'none'; script-src 'self'; \
     style-src 'self'; img-src 'self'; connect-src 'self'; manifest-src 'self'; form-action 'self'; \
     base-uri 'none'; frame-ancestors 'none'";

/// Where the page names its assets; replaced by `/console/<tag>`.
const ASSET_BASE_MARK: &str = "{{ASSETS}}";

const INDEX: &str = include_str!("../../assets/index.html");

struct Asset {
    name: &'static str,
    content_type: &'static str,
    body: &'static [u8],
}

const JS: &str = "text/javascript; charset=utf-8";

const ASSETS: &[Asset] = &[
    Asset {
        name: "app.js",
        content_type: JS,
        body: include_bytes!("../../assets/app.js"),
    },
    Asset {
        name: "api.js",
        content_type: JS,
        body: include_bytes!("../../assets/api.js"),
    },
    Asset {
        name: "form.js",
        content_type: JS,
        body: include_bytes!("../../assets/form.js"),
    },
    Asset {
        name: "csv.js",
        content_type: JS,
        body: include_bytes!("../../assets/csv.js"),
    },
    Asset {
        name: "table.js",
        content_type: JS,
        body: include_bytes!("../../assets/table.js"),
    },
    Asset {
        name: "charts.js",
        content_type: JS,
        body: include_bytes!("../../assets/charts.js"),
    },
    Asset {
        name: "console.css",
        content_type: "text/css; charset=utf-8",
        body: include_bytes!("../../assets/console.css"),
    },
    Asset {
        name: "icon.svg",
        content_type: "image/svg+xml",
        body: include_bytes!("../../assets/icon.svg"),
    },
];

/// FNV-1a over the page and every asset: changes whenever any of them does.
static TAG: LazyLock<String> = LazyLock::new(|| {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    let parts = std::iter::once(INDEX.as_bytes()).chain(ASSETS.iter().map(|a| a.body));
    for part in parts {
        for byte in part {
            hash ^= u64::from(*byte);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
    }
    format!("{hash:016x}")
});

static PAGE: LazyLock<String> =
    LazyLock::new(|| INDEX.replace(ASSET_BASE_MARK, &format!("/console/{}", *TAG)));

/// The console's routes: `/` and `/console/<tag>/<file>`.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(index))
        .route("/console/{tag}/{file}", get(asset))
}

/// The current asset tag (the page names its assets under `/console/<tag>/`).
pub fn tag() -> &'static str {
    &TAG
}

fn respond(content_type: &'static str, cache: &'static str, body: impl IntoResponse) -> Response {
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static(cache));
    headers.insert(
        CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY_VALUE),
    );
    headers.insert(
        HeaderName::from_static("x-content-type-options"),
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        HeaderName::from_static("referrer-policy"),
        HeaderValue::from_static("no-referrer"),
    );
    response
}

/// The web console.
#[utoipa::path(get, path = "/", operation_id = "console", tag = "console",
    responses((status = 200, description = "The console page", content_type = "text/html")))]
pub async fn index() -> Response {
    respond("text/html; charset=utf-8", "no-cache", PAGE.as_str())
}

/// The console's scripts, style and icon, under a tag that changes with their content (cached for a year).
#[utoipa::path(get, path = "/console/{tag}/{file}", operation_id = "console_asset", tag = "console",
    params(("tag" = String, Path, description = "The assets' content tag"), ("file" = String, Path)),
    responses(
        (status = 200, description = "The asset", content(
            (String = "text/javascript"), (String = "text/css"), (String = "image/svg+xml"))),
        (status = 404, description = "No such asset (or an old tag)", body = crate::openapi::ErrorBody),
    ))]
pub async fn asset(Path((tag, file)): Path<(String, String)>) -> Result<Response, ApiError> {
    let asset = ASSETS
        .iter()
        .find(|a| a.name == file)
        .ok_or(ApiError::NoRoute)?;
    // Under another tag (a page from an older binary) the bytes may differ from what that page expects, so they
    // are served but not cached.
    let cache = if tag == *TAG {
        "public, max-age=31536000, immutable"
    } else {
        "no-cache"
    };
    Ok(respond(asset.content_type, cache, asset.body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_names_every_script_and_style_under_the_tag() {
        let page = PAGE.as_str();
        assert!(!page.contains(ASSET_BASE_MARK));
        for name in ["app.js", "console.css", "icon.svg"] {
            assert!(
                page.contains(&format!("/console/{}/{name}", tag())),
                "{name}"
            );
        }
        // Nothing inline that the policy would block, and nothing from elsewhere.
        assert!(!page.contains("style=\""));
        assert!(!page.contains("<style"));
        assert!(!page.contains("http://") && !page.contains("https://"));
    }

    #[test]
    fn assets_fetch_nothing_from_elsewhere() {
        for asset in ASSETS {
            let text = String::from_utf8_lossy(asset.body);
            for line in text.lines() {
                // The SVG namespace is a name, not a fetch.
                let line = line.replace("http://www.w3.org/2000/svg", "");
                assert!(
                    !line.contains("http://")
                        && !line.contains("https://")
                        && !line.contains("//cdn"),
                    "{}: {line}",
                    asset.name
                );
            }
        }
    }
}
