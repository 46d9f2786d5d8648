import AgentAPI
import Foundation
import KubeAPI

/// A claim and what it is bound to (or why it is not).
struct ClaimBinding: Sendable, Hashable {
    /// The claim with its status (phase, capacity, access modes) filled in.
    var claim: PersistentVolumeClaim
    var volumeName: String?
    /// The host directory pods using the claim mount.
    var path: String?
    /// hostPath type of a static hostPath volume (checked at mount).
    var hostPathType: String?
}

/// The PV controller and the built-in `local-path` StorageClass (k3s' local-path-provisioner: a directory
/// per claim under `<root>/storage`, reclaim policy Delete), reduced to one node and a manifest directory.
enum VolumeBinder {
    static let localPathClass = "local-path"

    /// Binds every claim: an explicit `volumeName`, else the smallest matching static volume (same class,
    /// access modes included, capacity large enough), else a local-path directory when the class is
    /// `local-path` (the default class, as in k3s). Deterministic: the same manifests give the same bindings.
    static func bind(volumes: [PersistentVolume], claims: [PersistentVolumeClaim], storageRoot: String) -> (
        claims: [ClaimBinding], volumes: [PersistentVolume]
    ) {
        var volumes = volumes.sorted { ($0.metadata.name ?? "") < ($1.metadata.name ?? "") }
        for index in volumes.indices { volumes[index].status = PersistentVolumeStatus(phase: "Available") }
        var bindings: [ClaimBinding] = []
        for var claim in claims.sorted(by: { $0.key < $1.key }) {
            let namespace = claim.metadata.namespace ?? "default"
            let name = claim.metadata.name ?? ""
            let claimClass = claim.spec.storageClassName ?? localPathClass
            let request = claim.spec.resources?.requests?["storage"]?.value ?? 0
            let modes = Set(claim.spec.accessModes ?? [])
            func fits(_ volume: PersistentVolume) -> Bool {
                volume.status?.phase == "Available" && (volume.spec.storageClassName ?? "") == claimClass
                    && modes.isSubset(of: Set(volume.spec.accessModes ?? [])) && (volume.spec.capacity?["storage"]?.value ?? 0) >= request
            }
            var binding = ClaimBinding(claim: claim)
            let candidates = volumes.indices.filter { index in
                fits(volumes[index]) && (claim.spec.volumeName.map { $0.isEmpty || $0 == volumes[index].metadata.name } ?? true)
            }
            if let chosen = candidates.min(by: {
                (volumes[$0].spec.capacity?["storage"]?.value ?? 0, volumes[$0].metadata.name ?? "")
                    < (volumes[$1].spec.capacity?["storage"]?.value ?? 0, volumes[$1].metadata.name ?? "")
            }) {
                volumes[chosen].status = PersistentVolumeStatus(phase: "Bound")
                let volume = volumes[chosen]
                binding.volumeName = volume.metadata.name
                binding.path = volume.spec.hostPath?.path ?? volume.spec.local?.path
                binding.hostPathType = volume.spec.hostPath?.type
                // The PV controller records the binding in the claim's spec.
                claim.spec.volumeName = volume.metadata.name
                claim.status = PersistentVolumeClaimStatus(phase: "Bound")
                claim.status?.capacity = volume.spec.capacity
                claim.status?.accessModes = volume.spec.accessModes
            } else if claimClass == localPathClass && (claim.spec.volumeName ?? "").isEmpty && modes.isSubset(of: ["ReadWriteOnce", "ReadWriteOncePod"]) {
                let volumeName = provisionedName(namespace: namespace, name: name)
                binding.volumeName = volumeName
                binding.path = storageRoot + "/" + directoryName(volumeName: volumeName, namespace: namespace, name: name)
                claim.spec.volumeName = volumeName
                claim.status = PersistentVolumeClaimStatus(phase: "Bound")
                claim.status?.capacity = claim.spec.resources?.requests?["storage"].map { ["storage": $0] }
                claim.status?.accessModes = claim.spec.accessModes
                var volume = PersistentVolume(metadata: ObjectMeta(name: volumeName))
                volume.metadata.annotations = ["pv.kubernetes.io/provisioned-by": "rancher.io/local-path"]
                volume.spec.capacity = claim.status?.capacity
                volume.spec.accessModes = claim.spec.accessModes
                volume.spec.persistentVolumeReclaimPolicy = "Delete"
                volume.spec.storageClassName = localPathClass
                volume.spec.volumeMode = "Filesystem"
                volume.spec.hostPath = HostPathVolumeSource(path: binding.path ?? "", type: "DirectoryOrCreate")
                volume.status = PersistentVolumeStatus(phase: "Bound")
                volumes.append(volume)
                binding.hostPathType = "DirectoryOrCreate"
            } else {
                claim.status = PersistentVolumeClaimStatus(phase: "Pending")
            }
            binding.claim = claim
            bindings.append(binding)
        }
        return (bindings, volumes)
    }

    /// Why a claim is Pending, in the PV controller's words.
    static func pendingReason(_ claim: PersistentVolumeClaim) -> String {
        let claimClass = claim.spec.storageClassName ?? localPathClass
        if claimClass.isEmpty { return "no persistent volumes available for this claim and no storage class is set" }
        if claimClass == localPathClass { return "the local-path provisioner only supports ReadWriteOnce and ReadWriteOncePod" }
        return "storageclass.storage.k8s.io \(goQuote(claimClass)) not found"
    }

    static func provisionedName(namespace: String, name: String) -> String { "pvc-\(namespace)-\(name)" }

    /// k3s: `pvc-<id>_<namespace>_<name>`.
    static func directoryName(volumeName: String, namespace: String, name: String) -> String { "\(volumeName)_\(namespace)_\(name)" }

    /// Delete reclaim of local-path volumes: directories under `storageRoot` whose claim is gone and that no pod
    /// still uses (kubernetes' pvc-protection keeps a claim until its pods are gone).
    static func reclaim(storageRoot: String, keep: Set<String>) {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: storageRoot)) ?? []
        for entry in entries where entry.hasPrefix("pvc-") && !keep.contains(storageRoot + "/" + entry) {
            do {
                try FileManager.default.removeItem(atPath: storageRoot + "/" + entry)
                Log.info("local-path: deleted \(storageRoot)/\(entry) (claim gone, reclaim policy Delete)")
            } catch {
                Log.error("local-path: deleting \(storageRoot)/\(entry): \(error)")
            }
        }
    }
}

extension Agent {
    var storageRoot: String { config.root + "/storage" }

    /// Rebinds claims after a directory read; reclaims local-path directories of claims that are gone.
    func applyStorage(_ objects: [SourceObject]) {
        var volumes: [PersistentVolume] = []
        var claims: [PersistentVolumeClaim] = []
        for source in objects {
            if case .persistentVolume(let volume) = source.object { volumes.append(volume) }
            if case .persistentVolumeClaim(let claim) = source.object { claims.append(claim) }
        }
        let result = VolumeBinder.bind(volumes: volumes, claims: claims, storageRoot: storageRoot)
        let changed = context.objects.replaceStorage(claims: result.claims, volumes: result.volumes)
        // Paths still claimed, and paths of claims pods in the store still use (pvc-protection).
        var keep = Set(result.claims.compactMap(\.path))
        let used = Set(
            ((try? context.store.pods()) ?? []).flatMap { record -> [String] in
                guard let pod = try? KubeJSON.decoder().decode(Pod.self, from: record.manifest) else { return [] }
                return (pod.spec.volumes ?? []).compactMap { volume in
                    volume.persistentVolumeClaim.map { "\(pod.metadata.namespace ?? "default")/\($0.claimName)" }
                }
            })
        for key in used {
            let parts = key.split(separator: "/", maxSplits: 1).map(String.init)
            guard parts.count == 2 else { continue }
            let volumeName = VolumeBinder.provisionedName(namespace: parts[0], name: parts[1])
            keep.insert(storageRoot + "/" + VolumeBinder.directoryName(volumeName: volumeName, namespace: parts[0], name: parts[1]))
        }
        VolumeBinder.reclaim(storageRoot: storageRoot, keep: keep)
        if changed {
            for binding in result.claims where binding.claim.status?.phase == "Pending" {
                Log.info("persistentvolumeclaim \(binding.claim.key) Pending: \(VolumeBinder.pendingReason(binding.claim))")
            }
            Task { await self.objectsChanged() }
        }
    }

    /// `GET /v1/persistentvolumeclaims`, `GET /v1/persistentvolumes`.
    func storageObjects(kind: String) -> APIResponse {
        do {
            let body =
                kind == "PersistentVolume"
                ? try KubeJSON.encoder(pretty: true).encode(ObjectList(kind: "PersistentVolumeList", items: context.objects.persistentVolumes))
                : try KubeJSON.encoder(pretty: true).encode(
                    ObjectList(kind: "PersistentVolumeClaimList", items: context.objects.claimBindings.map(\.claim)))
            return APIResponse(status: 200, body: body)
        } catch {
            return .error(500, "listing \(kind) objects: \(error)")
        }
    }
}
