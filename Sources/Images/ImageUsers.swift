// The image's /etc/passwd as the agent needs it for securityContext: a user name or a uid → (uid, primary gid),
// read confined to the rootfs (a symlinked /etc/passwd cannot make the agent read a host file).

/// Looks users up in a container rootfs's /etc/passwd.
public struct ImageUsers: Sendable {
    private let users: [(name: String, uid: UInt32, gid: UInt32)]

    public init(rootfs: String) {
        users = UserDatabase(rootfs: rootfs).passwd.map { ($0.name, $0.uid, $0.gid) }
    }

    /// `name` is a user name or a decimal uid; nil when /etc/passwd has no such entry.
    public func lookup(_ name: String) -> (uid: UInt32, gid: UInt32)? {
        if let uid = UInt32(name), let entry = users.first(where: { $0.uid == uid }) { return (entry.uid, entry.gid) }
        return users.first { $0.name == name }.map { ($0.uid, $0.gid) }
    }
}
