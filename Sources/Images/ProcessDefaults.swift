import Foundation

/// The container process the runtime should start, after merging image defaults with the pod spec.
public struct ProcessDefaults: Sendable, Equatable {
    public var args: [String]
    /// `NAME=value` entries: the image's Env with the pod's env on top.
    public var env: [String]
    public var workingDir: String
    public var uid: UInt32
    public var gid: UInt32
    /// Supplementary groups of the user from the image's `/etc/group`.
    public var additionalGids: [UInt32]
}

/// What the pod spec says about the process (the fields that interact with the image config).
public struct ContainerProcessSpec: Sendable {
    public var command: [String]
    public var args: [String]
    public var env: [(name: String, value: String)]
    public var workingDir: String?
    public var runAsUser: Int64?
    public var runAsGroup: Int64?

    public init(
        command: [String] = [], args: [String] = [], env: [(name: String, value: String)] = [], workingDir: String? = nil, runAsUser: Int64? = nil,
        runAsGroup: Int64? = nil
    ) {
        self.command = command
        self.args = args
        self.env = env
        self.workingDir = workingDir
        self.runAsUser = runAsUser
        self.runAsGroup = runAsGroup
    }
}

/// Errors turning an image config into a process (kubelet reports them as `CreateContainerConfigError`).
public enum ProcessConfigError: Error, Sendable, Equatable, CustomStringConvertible {
    case noCommand
    case unknownUser(String)
    case unknownGroup(String)

    public var reason: String { "CreateContainerConfigError" }

    public var description: String {
        switch self {
        case .noCommand: return "no command specified: the image has no Entrypoint or Cmd and the pod sets no command"
        case .unknownUser(let user): return "unable to find user \(user): no matching entries in the image's /etc/passwd"
        case .unknownGroup(let group): return "unable to find group \(group): no matching entries in the image's /etc/group"
        }
    }
}

extension ImageConfig {
    /// Kubernetes semantics: `command` replaces Entrypoint (and drops Cmd), `args` replaces Cmd; image Env
    /// is merged under the pod's env; WorkingDir defaults to the image's, then `/`; the image's User is
    /// resolved through `rootfs`'s `/etc/passwd` and `/etc/group` unless `runAsUser` overrides it.
    public func processDefaults(for spec: ContainerProcessSpec, rootfs: String) throws(ProcessConfigError) -> ProcessDefaults {
        let argv: [String]
        switch (spec.command.isEmpty, spec.args.isEmpty) {
        case (true, true): argv = (Entrypoint ?? []) + (Cmd ?? [])
        case (true, false): argv = (Entrypoint ?? []) + spec.args
        case (false, true): argv = spec.command
        case (false, false): argv = spec.command + spec.args
        }
        guard !argv.isEmpty else { throw .noCommand }

        var env: [String] = []
        var index: [String: Int] = [:]
        func set(_ name: String, _ entry: String) {
            if let at = index[name] {
                env[at] = entry
            } else {
                index[name] = env.count
                env.append(entry)
            }
        }
        for entry in Env ?? [] {
            let name = entry.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false).first.map(String.init) ?? entry
            set(name, entry)
        }
        for (name, value) in spec.env { set(name, "\(name)=\(value)") }

        let workingDir = spec.workingDir.flatMap { $0.isEmpty ? nil : $0 } ?? WorkingDir.flatMap { $0.isEmpty ? nil : $0 } ?? "/"
        let users = UserDatabase(rootfs: rootfs)
        var (uid, gid, userName) = try users.resolve(User ?? "")
        if let runAsUser = spec.runAsUser {
            uid = UInt32(clamping: runAsUser)
            let entry = users.passwd.first { $0.uid == uid }
            userName = entry?.name
            gid = entry?.gid ?? 0
        }
        if let runAsGroup = spec.runAsGroup { gid = UInt32(clamping: runAsGroup) }
        var additional: [UInt32] = []
        if let userName {
            additional = users.groups.filter { $0.members.contains(userName) && $0.gid != gid }.map(\.gid)
        }
        return ProcessDefaults(args: argv, env: env, workingDir: workingDir, uid: uid, gid: gid, additionalGids: additional)
    }
}

/// `/etc/passwd` and `/etc/group` of an image, read without leaving the rootfs.
struct UserDatabase {
    struct User {
        var name: String
        var uid: UInt32
        var gid: UInt32
    }
    struct Group {
        var name: String
        var gid: UInt32
        var members: [String]
    }
    var passwd: [User] = []
    var groups: [Group] = []

    init(rootfs: String) {
        if let data = ScopedPath.readFile("/etc/passwd", root: rootfs) {
            for line in String(decoding: data, as: UTF8.self).split(separator: "\n") {
                let f = line.split(separator: ":", omittingEmptySubsequences: false)
                guard f.count >= 4, let uid = UInt32(f[2]), let gid = UInt32(f[3]) else { continue }
                passwd.append(User(name: String(f[0]), uid: uid, gid: gid))
            }
        }
        if let data = ScopedPath.readFile("/etc/group", root: rootfs) {
            for line in String(decoding: data, as: UTF8.self).split(separator: "\n") {
                let f = line.split(separator: ":", omittingEmptySubsequences: false)
                guard f.count >= 3, let gid = UInt32(f[2]) else { continue }
                let members = f.count > 3 ? f[3].split(separator: ",").map(String.init) : []
                groups.append(Group(name: String(f[0]), gid: gid, members: members))
            }
        }
    }

    /// Resolves `user`, `uid`, `user:group`, `uid:gid` (and mixes) as runc/containerd do.
    func resolve(_ spec: String) throws(ProcessConfigError) -> (uid: UInt32, gid: UInt32, name: String?) {
        guard !spec.isEmpty else { return (0, passwd.first { $0.uid == 0 }?.gid ?? 0, passwd.first { $0.uid == 0 }?.name ?? "root") }
        let parts = spec.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
        let userPart = parts[0]
        var uid: UInt32
        var gid: UInt32
        var name: String?
        if let numeric = UInt32(userPart) {
            uid = numeric
            let entry = passwd.first { $0.uid == numeric }
            gid = entry?.gid ?? 0
            name = entry?.name
        } else {
            guard let entry = passwd.first(where: { $0.name == userPart }) else { throw .unknownUser(userPart) }
            uid = entry.uid
            gid = entry.gid
            name = entry.name
        }
        if parts.count == 2 {
            let groupPart = parts[1]
            if let numeric = UInt32(groupPart) {
                gid = numeric
            } else {
                guard let group = groups.first(where: { $0.name == groupPart }) else { throw .unknownGroup(groupPart) }
                gid = group.gid
            }
        }
        return (uid, gid, name)
    }
}
