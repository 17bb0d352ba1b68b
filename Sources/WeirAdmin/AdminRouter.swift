import Foundation
import HTTPTypes
import Hummingbird
import WeirAdminModels
import WeirCore

/// The admin API of CONTRACT §5 on Hummingbird: JSON over HTTP, bearer-token auth on every
/// mutating call, and the same state machine behind manual commands as behind the policy.
public enum AdminRouter {
    public static func make(operations: any AdminOperations, access: AdminAccess) -> Router<BasicRequestContext> {
        let router = Router()
        router.add(middleware: AdminGuard(access: access))

        router.get("/") { _, _ in DashboardAssets.response(for: "index.html")! }
        router.get("/ui/:file") { _, context in
            let file = try context.parameters.require("file")
            return DashboardAssets.response(for: file) ?? error(.notFound, "not_found", "the dashboard has no file \(file)")
        }
        router.get("/healthz") { _, _ in json(["status": "ok"]) }
        router.get("/readyz") { _, _ in json(await operations.readiness()) }
        router.get("/metrics") { _, _ in
            Response(
                status: .ok,
                headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                body: ResponseBody(byteBuffer: ByteBuffer(string: await operations.metricsText()))
            )
        }
        router.get("/v1/routes") { _, _ in json(await operations.routes()) }
        router.get("/v1/routes/:name") { _, context in
            let name = try context.parameters.require("name")
            guard let route = await operations.route(named: name) else { return notFound(name) }
            return json(route)
        }
        router.get("/v1/routes/:name/events") { request, context in
            let name = try context.parameters.require("name")
            let limitText = request.uri.queryParameters.get("limit") ?? "50"
            guard let limit = Int(limitText), limit > 0 else {
                return error(.badRequest, "bad_request", "limit must be a positive whole number, not \(limitText)")
            }
            let found: [EventModel]?
            do {
                found = try await operations.events(route: name, limit: min(limit, 10_000))
            } catch let unavailable as StoreUnavailable {
                return error(.serviceUnavailable, "store_unavailable", unavailable.message)
            }
            guard let events = found else { return notFound(name) }
            return json(EventsModel(events: events))
        }
        router.get("/v1/routes/:name/series") { request, context in
            let name = try context.parameters.require("name")
            var since: Int64?
            if let text = request.uri.queryParameters.get("since") {
                guard let value = Int64(text), value >= 0 else {
                    return error(.badRequest, "bad_request", "since must be a unix time in whole seconds, not \(text)")
                }
                since = value
            }
            guard let series = await operations.series(route: name, since: since) else { return notFound(name) }
            return json(series)
        }
        router.get("/v1/routes/:name/diff") { request, context in
            let name = try context.parameters.require("name")
            let text = request.uri.queryParameters.get("limit") ?? "20"
            guard let limit = Int(text), (1...1000).contains(limit) else {
                return error(.badRequest, "bad_request", "limit must be a whole number from 1 to 1000, not \(text)")
            }
            guard let diff = await operations.shadowDiff(route: name, limit: limit) else { return notFound(name) }
            return json(diff)
        }
        for verb in ["promote", "pause", "resume", "retry", "rollback", "weight", "undo"] {
            router.post("/v1/routes/:name/\(verb)") { request, context in
                let name = try context.parameters.require("name")
                let command: RolloutCommand
                do {
                    command = try await parseCommand(verb, request: request)
                } catch let failure as ErrorModel {
                    return respond(.badRequest, failure)
                }
                switch try await operations.command(command, route: name) {
                case .success(let result):
                    return json(result)
                case .failure(let refusal):
                    return error(status(of: refusal), refusal.code, refusal.message)
                }
            }
        }
        router.post("/v1/reload") { _, _ in
            switch await operations.reload() {
            case .success(let count): return json(ReloadResultModel(routes: count))
            case .failure(let refusal):
                return respond(
                    .unprocessableContent,
                    ErrorModel(
                        error: "invalid_config", message: "the new config was refused; the running one stays",
                        details: refusal.errors)
                )
            }
        }
        return router
    }

    static func parseCommand(_ verb: String, request: Request) async throws -> RolloutCommand {
        var request = request
        let body = try await request.collectBody(upTo: 64 * 1024)
        let bytes = Data(body.readableBytesView)
        func decode<T: Decodable>(_ type: T.Type) throws -> T? {
            guard !bytes.isEmpty else { return nil }
            do {
                return try JSONDecoder().decode(T.self, from: bytes)
            } catch {
                throw ErrorModel(error: "bad_request", message: "the body is not the JSON this call takes: \(error)")
            }
        }
        switch verb {
        case "promote": return .promote(full: try decode(PromoteRequest.self)?.full ?? false)
        case "pause": return .pause
        case "resume": return .resume
        case "retry": return .retry
        case "rollback": return .rollback(reason: try checkedReason(decode(RollbackRequest.self)?.reason))
        case "undo": return .undo
        default:
            guard let weight = try decode(WeightRequest.self) else {
                throw ErrorModel(error: "bad_request", message: "set-weight needs a body {\"canary\": PERCENT}")
            }
            return .setWeight(weight.canary)
        }
    }

    /// The longest reason an operator may give, in characters.
    static let maxReasonLength = 500

    /// An operator's reason goes to the audit log, the logs, webhooks and every screen that shows
    /// them: one line of printable text, so it can neither forge a log line nor steer a terminal.
    static func checkedReason(_ reason: String?) throws -> String? {
        guard let reason else { return nil }
        guard reason.count <= maxReasonLength else {
            throw ErrorModel(error: "bad_request", message: "a reason is at most \(maxReasonLength) characters")
        }
        guard !reason.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) else {
            throw ErrorModel(
                error: "bad_request", message: "a reason is one line of text: no newlines or other control characters")
        }
        return reason
    }

    /// The HTTP status of a refused command: unknown route 404, store trouble 503, otherwise 409.
    static func status(of refusal: RolloutRefusal) -> HTTPResponse.Status {
        switch refusal.code {
        case "not_found": .notFound
        case "store_unavailable": .serviceUnavailable
        default: .conflict
        }
    }

    static func json(_ value: some Encodable) -> Response {
        respond(.ok, value)
    }

    static func notFound(_ name: String) -> Response {
        error(.notFound, "not_found", "no route named \(name)")
    }

    static func error(_ status: HTTPResponse.Status, _ code: String, _ message: String) -> Response {
        respond(status, ErrorModel(error: code, message: message))
    }

    static func respond(_ status: HTTPResponse.Status, _ value: some Encodable) -> Response {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let data = (try? encoder.encode(value)) ?? Data("{}".utf8)
        return Response(
            status: status,
            headers: [.contentType: "application/json"],
            body: ResponseBody(byteBuffer: ByteBuffer(bytes: data + Data("\n".utf8)))
        )
    }
}

/// Every admin call passes here first, in this order: a `Host` that does not name the listener
/// (DNS rebinding) or an `Origin`/`Sec-Fetch-Site` of another site (a web page's cross-site
/// request) is `403`; a call without the token it needs is `401`; a mutation whose body is not
/// declared `application/json` is `415` — so a browser form or `text/plain` "simple request" can
/// never change a rollout.
struct AdminGuard: RouterMiddleware {
    typealias Context = BasicRequestContext
    let access: AdminAccess
    static let host = HTTPField.Name("Host")!
    static let secFetchSite = HTTPField.Name("Sec-Fetch-Site")!
    static let contentSecurityPolicy = HTTPField.Name("Content-Security-Policy")!
    /// What every admin answer carries (JSON, refusals, 404s, the dashboard's files); a policy an
    /// answer sets itself is kept.
    static let lockedDownHeaders: [(HTTPField.Name, String)] = [
        (contentSecurityPolicy, "default-src 'none'; frame-ancestors 'none'"),
        (HTTPField.Name("X-Content-Type-Options")!, "nosniff"),
        (HTTPField.Name("X-Frame-Options")!, "DENY"),
    ]

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws
        -> Response
    {
        var response = try await guarded(request, context: context, next: next)
        // Every answer, refusals and 404s included: never framed, never sniffed as HTML, no
        // script of any kind (the dashboard's own files set a policy that allows theirs).
        for (name, value) in Self.lockedDownHeaders where response.headers[name] == nil {
            response.headers[name] = value
        }
        return response
    }

    private func guarded(_ request: Request, context: Context, next: (Request, Context) async throws -> Response)
        async throws -> Response
    {
        // A second Host stays among the fields (the first became the authority): refused, as the
        // data plane refuses it.
        guard let host = request.head.authority, access.acceptsHost(host),
            request.headers[Self.host] == nil
        else {
            return AdminRouter.error(
                .forbidden, "forbidden_host",
                "the admin API answers to its own address, localhost or admin.allowed_hosts; this request names another Host")
        }
        let isRead = request.method == .get || request.method == .head
        let path = request.uri.path
        // The dashboard's files hold no data, so a link from another site (a runbook, a chat) may
        // open them; every read of data and every change stays same-origin.
        let isDashboardFile = isRead && DashboardAssets.isDashboard(path)
        if !isDashboardFile, let origin = request.headers[.origin], !access.acceptsOrigin(origin, host: host) {
            return AdminRouter.error(
                .forbidden, "forbidden_origin", "cross-origin requests to the admin API are refused (Origin \(origin))")
        }
        if !isDashboardFile, let site = request.headers[Self.secFetchSite], site != "same-origin", site != "none" {
            return AdminRouter.error(
                .forbidden, "forbidden_origin", "cross-site requests to the admin API are refused (Sec-Fetch-Site \(site))")
        }
        let authorization = request.headers[.authorization]
        let authorized: Bool
        if isRead {
            let open = path == "/healthz" || path == "/readyz" || isDashboardFile || access.readToken == nil
            authorized =
                open || access.readToken?.accepts(authorization: authorization) == true
                || access.adminToken?.accepts(authorization: authorization) == true
        } else {
            authorized = access.adminToken?.accepts(authorization: authorization) ?? true
        }
        guard authorized else {
            return AdminRouter.error(
                .unauthorized, "unauthorized",
                isRead
                    ? "reads need Authorization: Bearer <read token or admin token>"
                    : "this call needs Authorization: Bearer <admin token>")
        }
        if !isRead {
            let types = request.headers[values: .contentType]
            let type = types.first?.split(separator: ";").first?.trimmingCharacters(in: .whitespaces).lowercased()
            guard types.count == 1, type == "application/json" else {
                return AdminRouter.error(
                    .unsupportedMediaType, "unsupported_media_type",
                    "calls that change something need Content-Type: application/json (a body of {} will do)")
            }
        }
        return try await next(request, context)
    }
}