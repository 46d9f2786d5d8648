import Foundation
import GRDB

/// A pod the agent has admitted and owns state for (cgroups, namespaces, containers, logs).
/// The store keeps it until the pod's resources are cleaned up, so an agent restarted after the
/// manifest disappeared still knows what to remove.
public struct PodRecord: Codable, Sendable, Equatable, FetchableRecord, PersistableRecord {
    public static let databaseTableName = "pod"
    public var uid: String
    public var namespace: String
    public var name: String
    /// The manifest file that produced the pod.
    public var file: String
    /// The pod as decoded from the manifest (Kubernetes v1 JSON).
    public var manifest: Data
    public var createdAt: Date
    /// The last computed status (Kubernetes v1 PodStatus JSON).
    public var status: Data?

    public init(uid: String, namespace: String, name: String, file: String, manifest: Data, createdAt: Date, status: Data? = nil) {
        self.uid = uid
        self.namespace = namespace
        self.name = name
        self.file = file
        self.manifest = manifest
        self.createdAt = createdAt
        self.status = status
    }
}

/// One run (attempt) of a container. `attempt` is the restart count this run carries; the row is written
/// before the runtime is asked to create the container, so a crash in between is found on restart.
public struct ContainerRecord: Codable, Sendable, Equatable, FetchableRecord, PersistableRecord {
    public static let databaseTableName = "container"
    public enum State: String, Codable, Sendable {
        /// Recorded, runtime create/start not confirmed yet.
        case creating
        case running
        case exited
        /// The runtime could not create or start it (never ran).
        case failed
    }
    /// The runtime's container ID.
    public var id: String
    public var podUID: String
    public var name: String
    public var isInit: Bool
    public var attempt: Int
    public var image: String
    public var imageID: String
    public var state: State
    public var pid: Int32?
    public var startedAt: Date?
    public var finishedAt: Date?
    public var exitCode: Int32?
    public var signal: Int32?
    public var reason: String?
    public var message: String?
    /// Set once the runtime container (and its rootfs) has been deleted; the row stays for lastState.
    public var removed: Bool

    public init(id: String, podUID: String, name: String, isInit: Bool, attempt: Int, image: String, imageID: String) {
        self.id = id
        self.podUID = podUID
        self.name = name
        self.isInit = isInit
        self.attempt = attempt
        self.image = image
        self.imageID = imageID
        self.state = .creating
        self.removed = false
    }
}

/// CrashLoopBackOff bookkeeping per (pod, container), persisted so a restarted agent keeps the delays.
public struct BackoffRecord: Codable, Sendable, Equatable, FetchableRecord, PersistableRecord {
    public static let databaseTableName = "backoff"
    public var podUID: String
    public var name: String
    public var seconds: Int
    public var lastUpdate: Date

    public init(podUID: String, name: String, seconds: Int, lastUpdate: Date) {
        self.podUID = podUID
        self.name = name
        self.seconds = seconds
        self.lastUpdate = lastUpdate
    }
}

/// A Kubernetes-style event. Repeats of the same (object, type, reason, message) are folded into one
/// row with a count, as the event recorder's aggregation does.
public struct EventRecord: Codable, Sendable, Equatable, FetchableRecord, MutablePersistableRecord {
    public static let databaseTableName = "event"
    public var id: Int64?
    /// Empty for events not about a pod (e.g. a manifest file that does not parse).
    public var podUID: String
    public var namespace: String
    /// `Pod` or `File`.
    public var objectKind: String
    public var objectName: String
    /// e.g. `spec.containers{app}`.
    public var fieldPath: String?
    public var type: String
    public var reason: String
    public var message: String
    public var count: Int
    public var firstTimestamp: Date
    public var lastTimestamp: Date

    public init(
        podUID: String, namespace: String, objectKind: String, objectName: String, fieldPath: String?, type: String, reason: String, message: String,
        at time: Date
    ) {
        self.podUID = podUID
        self.namespace = namespace
        self.objectKind = objectKind
        self.objectName = objectName
        self.fieldPath = fieldPath
        self.type = type
        self.reason = reason
        self.message = message
        self.count = 1
        self.firstTimestamp = time
        self.lastTimestamp = time
    }

    public mutating func didInsert(_ inserted: InsertionSuccess) { id = inserted.rowID }
}

/// A failure of the store, with the operation and the database path.
public struct StoreError: Error, Sendable, CustomStringConvertible {
    public var operation: String
    public var path: String
    public var underlying: String
    public var description: String { "store \(path): \(operation): \(underlying)" }
}

/// The agent's embedded SQLite store (WAL mode: readers never block the writer; every change is one
/// transaction, so a crash leaves either the old or the new state).
public final class AgentStore: Sendable {
    public let path: String
    private let pool: DatabasePool
    /// Events kept per object; older ones are dropped (kubelet events expire after an hour in the API server).
    public static let maxEventsPerObject = 200

    public init(path: String) throws(StoreError) {
        self.path = path
        do {
            var configuration = Configuration()
            configuration.busyMode = .timeout(5)
            // WAL with synchronous=NORMAL: a commit no longer waits for an fsync (several per pod start), and the
            // database stays consistent through any crash; only an OS crash or power loss can drop the last
            // commits, which the agent re-derives from the runtime and the manifests on start.
            configuration.prepareDatabase { db in try db.execute(sql: "PRAGMA synchronous = NORMAL") }
            pool = try DatabasePool(path: path, configuration: configuration)
            try Self.migrator.migrate(pool)
        } catch {
            throw StoreError(operation: "open", path: path, underlying: String(describing: error))
        }
    }

    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1") { db in
            try db.create(table: "pod") { t in
                t.primaryKey("uid", .text)
                t.column("namespace", .text).notNull()
                t.column("name", .text).notNull()
                t.column("file", .text).notNull()
                t.column("manifest", .blob).notNull()
                t.column("createdAt", .datetime).notNull()
                t.column("status", .blob)
            }
            try db.create(table: "container") { t in
                t.primaryKey("id", .text)
                t.column("podUID", .text).notNull().indexed()
                t.column("name", .text).notNull()
                t.column("isInit", .boolean).notNull()
                t.column("attempt", .integer).notNull()
                t.column("image", .text).notNull()
                t.column("imageID", .text).notNull()
                t.column("state", .text).notNull()
                t.column("pid", .integer)
                t.column("startedAt", .datetime)
                t.column("finishedAt", .datetime)
                t.column("exitCode", .integer)
                t.column("signal", .integer)
                t.column("reason", .text)
                t.column("message", .text)
                t.column("removed", .boolean).notNull()
            }
            try db.create(table: "backoff") { t in
                t.column("podUID", .text).notNull()
                t.column("name", .text).notNull()
                t.column("seconds", .integer).notNull()
                t.column("lastUpdate", .datetime).notNull()
                t.primaryKey(["podUID", "name"])
            }
            try db.create(table: "event") { t in
                t.autoIncrementedPrimaryKey("id")
                t.column("podUID", .text).notNull().indexed()
                t.column("namespace", .text).notNull()
                t.column("objectKind", .text).notNull()
                t.column("objectName", .text).notNull()
                t.column("fieldPath", .text)
                t.column("type", .text).notNull()
                t.column("reason", .text).notNull()
                t.column("message", .text).notNull()
                t.column("count", .integer).notNull()
                t.column("firstTimestamp", .datetime).notNull()
                t.column("lastTimestamp", .datetime).notNull()
            }
        }
        return migrator
    }

    private func write<T: Sendable>(_ operation: String, _ body: @Sendable (Database) throws -> T) throws(StoreError) -> T {
        do { return try pool.write(body) } catch { throw StoreError(operation: operation, path: path, underlying: String(describing: error)) }
    }

    private func read<T: Sendable>(_ operation: String, _ body: @Sendable (Database) throws -> T) throws(StoreError) -> T {
        do { return try pool.read(body) } catch { throw StoreError(operation: operation, path: path, underlying: String(describing: error)) }
    }

    // MARK: Pods

    public func pods() throws(StoreError) -> [PodRecord] {
        try read("list pods") { db in try PodRecord.order(Column("namespace"), Column("name")).fetchAll(db) }
    }

    public func pod(uid: String) throws(StoreError) -> PodRecord? {
        try read("get pod \(uid)") { db in try PodRecord.fetchOne(db, key: uid) }
    }

    /// Inserts the pod unless it exists (a pod's identity is its UID; its manifest never changes).
    public func insertPod(_ pod: PodRecord) throws(StoreError) {
        try write("insert pod \(pod.namespace)/\(pod.name)") { db in
            if try PodRecord.exists(db, key: pod.uid) { return }
            try pod.insert(db)
        }
    }

    public func updatePodStatus(uid: String, status: Data) throws(StoreError) {
        try write("update status of pod \(uid)") { db in
            try db.execute(sql: "UPDATE pod SET status = ? WHERE uid = ?", arguments: [status, uid])
        }
    }

    /// Removes the pod and everything recorded about it except its events (kept for `get events`).
    public func deletePod(uid: String) throws(StoreError) {
        try write("delete pod \(uid)") { db in
            _ = try PodRecord.deleteOne(db, key: uid)
            try db.execute(sql: "DELETE FROM container WHERE podUID = ?", arguments: [uid])
            try db.execute(sql: "DELETE FROM backoff WHERE podUID = ?", arguments: [uid])
        }
    }

    // MARK: Containers

    public func containers(podUID: String) throws(StoreError) -> [ContainerRecord] {
        try read("list containers of pod \(podUID)") { db in
            try ContainerRecord.filter(Column("podUID") == podUID).order(Column("name"), Column("attempt")).fetchAll(db)
        }
    }

    public func allContainers() throws(StoreError) -> [ContainerRecord] {
        try read("list containers") { db in try ContainerRecord.fetchAll(db) }
    }

    public func saveContainer(_ container: ContainerRecord) throws(StoreError) {
        try write("save container \(container.id)") { db in try container.save(db) }
    }

    /// Drops rows of older runs: kubelet keeps only the two most recent instances (for state and lastState).
    public func pruneContainers(podUID: String, name: String, keepFromAttempt attempt: Int) throws(StoreError) {
        try write("prune container \(name) of pod \(podUID)") { db in
            try db.execute(
                sql: "DELETE FROM container WHERE podUID = ? AND name = ? AND attempt < ? AND removed", arguments: [podUID, name, attempt])
        }
    }

    // MARK: Backoff

    public func backoff(podUID: String, name: String) throws(StoreError) -> BackoffRecord? {
        try read("get backoff") { db in try BackoffRecord.fetchOne(db, key: ["podUID": podUID, "name": name]) }
    }

    public func saveBackoff(_ record: BackoffRecord) throws(StoreError) {
        try write("save backoff") { db in try record.save(db) }
    }

    // MARK: Events

    /// Records an event, folding it into an identical earlier one (count + 1, lastTimestamp).
    public func recordEvent(_ event: EventRecord) throws(StoreError) {
        try write("record event \(event.reason)") { db in
            if var existing = try EventRecord.filter(
                Column("podUID") == event.podUID && Column("objectName") == event.objectName && Column("type") == event.type
                    && Column("reason") == event.reason && Column("message") == event.message
            ).fetchOne(db) {
                existing.count += 1
                existing.lastTimestamp = event.lastTimestamp
                try existing.update(db)
            } else {
                var inserted = event
                try inserted.insert(db)
                // Bound the table: drop the oldest beyond the per-object cap.
                try db.execute(
                    sql: """
                        DELETE FROM event WHERE objectName = ? AND podUID = ? AND id NOT IN
                        (SELECT id FROM event WHERE objectName = ? AND podUID = ? ORDER BY lastTimestamp DESC LIMIT ?)
                        """,
                    arguments: [event.objectName, event.podUID, event.objectName, event.podUID, Self.maxEventsPerObject])
            }
        }
    }

    public func events(podUID: String? = nil) throws(StoreError) -> [EventRecord] {
        try read("list events") { db in
            var request = EventRecord.order(Column("lastTimestamp"), Column("id"))
            if let podUID { request = request.filter(Column("podUID") == podUID) }
            return try request.fetchAll(db)
        }
    }
}
