import Foundation

/// A v1 PersistentVolume: cluster-scoped (its namespace is ignored); `hostPath` and `local` sources only.
public struct PersistentVolume: Codable, Hashable, Sendable {
    public var apiVersion: String = "v1"
    public var kind: String = "PersistentVolume"
    public var metadata: ObjectMeta
    public var spec: PersistentVolumeSpec
    public var status: PersistentVolumeStatus?

    public init(metadata: ObjectMeta = ObjectMeta(), spec: PersistentVolumeSpec = PersistentVolumeSpec()) {
        self.metadata = metadata
        self.spec = spec
    }

    public var key: String { "/" + (metadata.name ?? "") }
}

public struct PersistentVolumeSpec: Codable, Hashable, Sendable, ManifestDecodable {
    public var capacity: [String: Quantity]?
    public var accessModes: [String]?
    public var persistentVolumeReclaimPolicy: String?
    public var storageClassName: String?
    public var volumeMode: String?
    public var hostPath: HostPathVolumeSource?
    public var local: LocalVolumeSource?
    public init() {}
    init(reader r: ObjectReader) {
        capacity = r.quantityMap("capacity")
        accessModes = r.strings("accessModes")
        persistentVolumeReclaimPolicy = r.string("persistentVolumeReclaimPolicy")
        storageClassName = r.string("storageClassName")
        volumeMode = r.string("volumeMode")
        hostPath = r.object("hostPath")
        local = r.object("local")
        r.ignore("claimRef", reason: "binding is decided by the agent")
        r.ignore("nodeAffinity", reason: "a single-node agent")
        r.ignore("mountOptions", reason: "not supported for hostPath and local volumes")
    }
}

public struct LocalVolumeSource: Codable, Hashable, Sendable, ManifestDecodable {
    public var path: String = ""
    public var fsType: String?
    public init(path: String = "") { self.path = path }
    init(reader r: ObjectReader) {
        path = r.string("path") ?? ""
        fsType = r.string("fsType")
    }
}

public struct PersistentVolumeStatus: Codable, Hashable, Sendable {
    public var phase: String?
    public var reason: String?
    public var message: String?
    public init(phase: String? = nil) { self.phase = phase }
}

extension PersistentVolume: ManifestDecodable {
    init(reader r: ObjectReader) {
        metadata = r.object("metadata") ?? ObjectMeta()
        spec = r.object("spec") ?? PersistentVolumeSpec()
        r.skip("apiVersion")
        r.skip("kind")
        r.ignore("status", reason: "status is set by the agent")
    }
}

/// A v1 PersistentVolumeClaim.
public struct PersistentVolumeClaim: Codable, Hashable, Sendable {
    public var apiVersion: String = "v1"
    public var kind: String = "PersistentVolumeClaim"
    public var metadata: ObjectMeta
    public var spec: PersistentVolumeClaimSpec
    public var status: PersistentVolumeClaimStatus?

    public init(metadata: ObjectMeta = ObjectMeta(), spec: PersistentVolumeClaimSpec = PersistentVolumeClaimSpec()) {
        self.metadata = metadata
        self.spec = spec
    }

    public var key: String { metadata.key }
}

public struct PersistentVolumeClaimSpec: Codable, Hashable, Sendable, ManifestDecodable {
    public var accessModes: [String]?
    public var resources: ResourceRequirements?
    public var storageClassName: String?
    public var volumeName: String?
    public var volumeMode: String?
    public init() {}
    init(reader r: ObjectReader) {
        accessModes = r.strings("accessModes")
        resources = r.object("resources")
        storageClassName = r.string("storageClassName")
        volumeName = r.string("volumeName")
        volumeMode = r.string("volumeMode")
        r.ignore("selector", reason: "label selectors on claims are not supported")
        r.ignore("dataSource", reason: "volume populators are not supported")
        r.ignore("dataSourceRef", reason: "volume populators are not supported")
    }
}

public struct PersistentVolumeClaimStatus: Codable, Hashable, Sendable {
    public var phase: String?
    public var accessModes: [String]?
    public var capacity: [String: Quantity]?
    public init(phase: String? = nil) { self.phase = phase }
}

extension PersistentVolumeClaim: ManifestDecodable {
    init(reader r: ObjectReader) {
        metadata = r.object("metadata") ?? ObjectMeta()
        spec = r.object("spec") ?? PersistentVolumeClaimSpec()
        r.skip("apiVersion")
        r.skip("kind")
        r.ignore("status", reason: "status is set by the agent")
    }
}

extension Defaults {
    public static func apply(to volume: inout PersistentVolume) {
        // Cluster-scoped: a namespace in the manifest means nothing.
        volume.metadata.namespace = nil
        if volume.spec.persistentVolumeReclaimPolicy?.isEmpty ?? true { volume.spec.persistentVolumeReclaimPolicy = "Retain" }
        if volume.spec.volumeMode?.isEmpty ?? true { volume.spec.volumeMode = "Filesystem" }
    }

    public static func apply(to claim: inout PersistentVolumeClaim) {
        if claim.metadata.namespace?.isEmpty ?? true { claim.metadata.namespace = namespace }
        if claim.spec.volumeMode?.isEmpty ?? true { claim.spec.volumeMode = "Filesystem" }
    }
}

extension Validation {
    public static let accessModes = ["ReadOnlyMany", "ReadWriteMany", "ReadWriteOnce", "ReadWriteOncePod"]

    static func validateAccessModes(_ modes: [String]?, path: FieldPath) -> [FieldError] {
        guard let modes, !modes.isEmpty else { return [.required(path)] }
        var errors = modes.enumerated().filter { !accessModes.contains($0.element) }.map {
            FieldError.unsupported(path.index($0.offset), .string($0.element), accessModes)
        }
        if modes.contains("ReadWriteOncePod") && modes.count > 1 {
            errors.append(.forbidden(path, "may not use ReadWriteOncePod with other access modes"))
        }
        return errors
    }

    public static func validate(_ volume: PersistentVolume) -> [FieldError] {
        var meta = volume.metadata
        meta.namespace = nil
        var errors = validate(meta, path: FieldPath("metadata"))
        let spec = FieldPath("spec")
        errors += validateAccessModes(volume.spec.accessModes, path: spec.child("accessModes"))
        if volume.spec.capacity?["storage"] == nil {
            errors.append(.required(spec.child("capacity").key("storage")))
        }
        let sources = [volume.spec.hostPath != nil, volume.spec.local != nil].filter { $0 }.count
        if sources == 0 {
            errors.append(.required(spec, "must specify a volume type (this agent supports hostPath and local)"))
        } else if sources > 1 {
            errors.append(.forbidden(spec.child("local"), "may not specify more than 1 volume type"))
        }
        for (name, path) in [("hostPath", volume.spec.hostPath?.path), ("local", volume.spec.local?.path)] {
            guard let path else { continue }
            if path.isEmpty { errors.append(.required(spec.child(name).child("path"))) }
            if !path.hasPrefix("/") && name == "local" { errors.append(.invalid(spec.child(name).child("path"), .string(path), "must be an absolute path")) }
        }
        if let policy = volume.spec.persistentVolumeReclaimPolicy, !["Retain", "Delete", "Recycle"].contains(policy) {
            errors.append(.unsupported(spec.child("persistentVolumeReclaimPolicy"), .string(policy), ["Delete", "Recycle", "Retain"]))
        }
        return errors
    }

    public static func validate(_ claim: PersistentVolumeClaim) -> [FieldError] {
        var errors = validate(claim.metadata, path: FieldPath("metadata"))
        let spec = FieldPath("spec")
        errors += validateAccessModes(claim.spec.accessModes, path: spec.child("accessModes"))
        if let storage = claim.spec.resources?.requests?["storage"] {
            if storage.value <= 0 {
                errors.append(.invalid(spec.child("resources").child("requests").key("storage"), .string(storage.description), "must be greater than zero"))
            }
        } else {
            errors.append(.required(spec.child("resources").child("requests").key("storage")))
        }
        return errors
    }
}
