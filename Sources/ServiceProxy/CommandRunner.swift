import Foundation

/// The result of one external command.
public struct CommandOutput: Sendable {
    public var status: Int32
    public var stdout: String
    public var stderr: String

    public init(status: Int32, stdout: String, stderr: String) {
        self.status = status
        self.stdout = stdout
        self.stderr = stderr
    }
}

/// A failed external command, with what it said.
public struct CommandError: Error, CustomStringConvertible, Sendable {
    public var argv: [String]
    public var output: CommandOutput
    public var context: String

    public var description: String {
        let stderr = output.stderr.trimmingCharacters(in: .whitespacesAndNewlines)
        return "\(context): \(argv.joined(separator: " ")) exited with status \(output.status): \(stderr)"
    }
}

/// Runs iptables/nft/conntrack. Tests substitute a recording runner.
public protocol CommandRunner: Sendable {
    func run(_ argv: [String], input: String?) throws -> CommandOutput
}

extension CommandRunner {
    /// Runs and throws `CommandError` on a non-zero exit.
    public func check(_ argv: [String], input: String? = nil, context: String) throws -> CommandOutput {
        let output = try run(argv, input: input)
        guard output.status == 0 else { throw CommandError(argv: argv, output: output, context: context) }
        return output
    }
}

/// Executes commands with Foundation's `Process`, looking the program up in PATH plus the sbin directories.
public struct ProcessRunner: CommandRunner {
    public init() {}

    static let searchPath = ["/usr/sbin", "/sbin", "/usr/bin", "/bin", "/usr/local/sbin", "/usr/local/bin"]

    static func locate(_ program: String) -> String {
        if program.hasPrefix("/") { return program }
        let path = (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":").map(String.init) + searchPath
        return path.map { "\($0)/\(program)" }.first { FileManager.default.isExecutableFile(atPath: $0) } ?? program
    }

    public func run(_ argv: [String], input: String?) throws -> CommandOutput {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Self.locate(argv[0]))
        process.arguments = Array(argv.dropFirst())
        let stdout = Pipe()
        let stderr = Pipe()
        let stdin = Pipe()
        process.standardOutput = stdout
        process.standardError = stderr
        process.standardInput = input == nil ? FileHandle.nullDevice : stdin
        try process.run()
        // Drain stdout/stderr on other threads while feeding stdin: big rulesets overflow a pipe either way.
        let outBox = DataBox()
        let errBox = DataBox()
        let group = DispatchGroup()
        for (pipe, box) in [(stdout, outBox), (stderr, errBox)] {
            group.enter()
            DispatchQueue.global().async {
                box.data = pipe.fileHandleForReading.readDataToEndOfFile()
                group.leave()
            }
        }
        if let input {
            try stdin.fileHandleForWriting.write(contentsOf: Data(input.utf8))
            try stdin.fileHandleForWriting.close()
        }
        group.wait()
        process.waitUntilExit()
        return CommandOutput(
            status: process.terminationStatus, stdout: String(decoding: outBox.data, as: UTF8.self), stderr: String(decoding: errBox.data, as: UTF8.self))
    }
}

/// Written by one reader thread, read after `DispatchGroup.wait`.
private final class DataBox: @unchecked Sendable {
    var data = Data()
}
