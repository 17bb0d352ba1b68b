import ArgumentParser
import Foundation
import WeirAdminModels

/// `weirctl`: watch and steer Weir's rollouts through its admin API.
///
/// Exit codes: 0 done, 1 refused by the router (the message says why), 2 usage error,
/// 3 router unreachable or unauthorized.
@main
struct WeirCtl: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "weirctl",
        abstract: "Watch and steer Weir's canary rollouts.",
        discussion: "Exit codes: 0 done, 1 refused by the router, 2 usage error, 3 router unreachable or unauthorized.",
        subcommands: [
            Status.self, History.self, Diff.self, Promote.self, Pause.self, Resume.self, Retry.self, Rollback.self, Undo.self,
            SetWeight.self, Reload.self,
        ]
    )

    /// Parses, runs, and maps every failure to the documented exit codes.
    static func main() async {
        let command: any ParsableCommand
        do {
            command = try parseAsRoot()
        } catch {
            let code = exitCode(for: error)
            if code == .success {
                print(fullMessage(for: error))
                Foundation.exit(0)
            }
            FileHandle.standardError.write(Data((fullMessage(for: error) + "\n").utf8))
            Foundation.exit(2)
        }
        do {
            if var asyncCommand = command as? any AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                var syncCommand = command
                try syncCommand.run()
            }
        } catch let code as ExitCode {
            Foundation.exit(code.rawValue)
        } catch let failure as CtlFailure {
            FileHandle.standardError.write(Data("weirctl: \(failure.message)\n".utf8))
            Foundation.exit(failure.exitCode)
        } catch {
            // `weirctl VERB --help` asks for help from inside the subcommand.
            if exitCode(for: error) == .success {
                print(fullMessage(for: error))
                Foundation.exit(0)
            }
            FileHandle.standardError.write(Data("weirctl: \(error)\n".utf8))
            Foundation.exit(1)
        }
    }
}

/// A failure with the exit code it means.
struct CtlFailure: Error {
    var message: String
    var exitCode: Int32

    static func refused(_ message: String) -> CtlFailure { CtlFailure(message: message, exitCode: 1) }
    static func unreachable(_ message: String) -> CtlFailure { CtlFailure(message: message, exitCode: 3) }
}
