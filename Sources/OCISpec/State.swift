// OCI `state` output (runtime.md "State"), with runc's extra fields.

extension OCI {
    public enum Status: String, Codable, Sendable {
        case creating, created, running, stopped
    }

    public struct State: Codable, Sendable, Equatable {
        public var ociVersion: String
        public var id: String
        public var status: Status
        public var pid: Int32?
        public var bundle: String
        public var annotations: [String: String]?
        /// runc extras: absolute rootfs path, RFC 3339 creation time, owner.
        public var rootfs: String?
        public var created: String?
        public var owner: String?

        public init(
            ociVersion: String = OCI.specVersion, id: String, status: Status, pid: Int32?, bundle: String,
            annotations: [String: String]? = nil, rootfs: String? = nil, created: String? = nil, owner: String? = nil
        ) {
            self.ociVersion = ociVersion
            self.id = id
            self.status = status
            self.pid = pid
            self.bundle = bundle
            self.annotations = annotations
            self.rootfs = rootfs
            self.created = created
            self.owner = owner
        }
    }
}
