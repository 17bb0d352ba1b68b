import HTTPTypes
import Hummingbird

/// The dashboard (CONTRACT §12): a page and its script and style, compiled into the binary and
/// served by the admin listener at `/` and `/ui/…`. They hold no data — the page reads the admin
/// API with the operator's token — so they are served without one, also to a link from another
/// site. Their answers forbid framing (clickjacking an action button), inline script and any
/// origin but the listener's own.
enum DashboardAssets {
    struct Asset {
        let bytes: [UInt8]
        let contentType: String
    }

    static let files: [String: Asset] = [
        "index.html": Asset(bytes: PackageResources.index_html, contentType: "text/html; charset=utf-8"),
        "dashboard.js": Asset(bytes: PackageResources.dashboard_js, contentType: "text/javascript; charset=utf-8"),
        "dashboard.css": Asset(bytes: PackageResources.dashboard_css, contentType: "text/css; charset=utf-8"),
        "favicon.svg": Asset(bytes: PackageResources.favicon_svg, contentType: "image/svg+xml"),
    ]

    /// The dashboard's own policy: its script, style and icon, the API it reads, nothing else.
    /// `AdminGuard` adds what every admin answer carries (no framing, no sniffing).
    static let securityHeaders: HTTPFields = [
        AdminGuard.contentSecurityPolicy:
            "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
            + "frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
        HTTPField.Name("Referrer-Policy")!: "no-referrer",
        .cacheControl: "no-cache",
    ]

    /// The answer for a dashboard file; nil for a name that is not one.
    static func response(for name: String) -> Response? {
        guard let asset = files[name] else { return nil }
        var headers = securityHeaders
        headers[.contentType] = asset.contentType
        return Response(status: .ok, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(bytes: asset.bytes)))
    }

    /// Whether a path is exactly one of the dashboard's files (served without a token: they hold
    /// no data). An exact match, so no `/ui/../v1/…` spelling can ride on it past the read token.
    static func isDashboard(_ path: String) -> Bool {
        path == "/" || (path.hasPrefix("/ui/") && files[String(path.dropFirst(4))] != nil)
    }
}
