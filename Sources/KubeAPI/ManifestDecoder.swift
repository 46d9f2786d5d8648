import Foundation
import Yams

/// An object read from a manifest. New kinds (Service, ConfigMap, Secret, PersistentVolume,
/// PersistentVolumeClaim, Endpoints, EndpointSlice) become new cases plus one `KindHandler` in `ManifestDecoder.handlers`.
public enum ManifestObject: Hashable, Sendable {
    case pod(Pod)
    case service(Service)
    case endpoints(Endpoints)
    case endpointSlice(EndpointSlice)
    case configMap(ConfigMap)
    case secret(Secret)
    case persistentVolume(PersistentVolume)
    case persistentVolumeClaim(PersistentVolumeClaim)

    public var kind: String {
        switch self {
        case .pod: return "Pod"
        case .service: return "Service"
        case .endpoints: return "Endpoints"
        case .endpointSlice: return "EndpointSlice"
        case .configMap: return "ConfigMap"
        case .secret: return "Secret"
        case .persistentVolume: return "PersistentVolume"
        case .persistentVolumeClaim: return "PersistentVolumeClaim"
        }
    }

    /// `namespace/name`, for duplicate detection across files (the caller's job).
    public var key: String {
        switch self {
        case .pod(let pod): return pod.key
        case .service(let service): return service.key
        case .endpoints(let endpoints): return endpoints.key
        case .endpointSlice(let slice): return slice.key
        case .configMap(let configMap): return configMap.key
        case .secret(let secret): return secret.key
        case .persistentVolume(let volume): return volume.key
        case .persistentVolumeClaim(let claim): return claim.key
        }
    }
}

/// One YAML document of a manifest file and what became of it.
public struct ManifestDocument: Hashable, Sendable {
    /// 0-based position in the file.
    public var index: Int
    /// Line where the document's content starts (1-based).
    public var line: Int?
    public var apiVersion: String?
    public var kind: String?
    /// `namespace/name` when the document names an object (even an invalid one).
    public var key: String?
    /// The decoded, defaulted and validated object; nil when the document has errors or an unsupported kind.
    public var object: ManifestObject?
    public var errors: [FieldError]
    public var warnings: [DecodeWarning]
}

/// A problem with a whole file (or the rest of it): too large, not UTF-8, unreadable, or YAML that does not parse.
public struct ManifestFileError: Error, Hashable, Sendable, CustomStringConvertible {
    public enum Reason: Hashable, Sendable {
        case tooLarge(size: Int, limit: Int)
        case notUTF8(offset: Int)
        case unreadable(String)
        /// A YAML syntax error; documents before it are still returned.
        case syntax(line: Int?, column: Int?, problem: String)
        case unsafe(String)
    }

    public var reason: Reason

    public init(_ reason: Reason) { self.reason = reason }

    public var description: String {
        switch reason {
        case .tooLarge(let size, let limit):
            return "file is \(size) bytes, larger than the limit of \(limit) bytes (\(limit / (1024 * 1024)) MiB) for a manifest; not parsed"
        case .notUTF8(let offset):
            return "not a text manifest: invalid UTF-8 at byte offset \(offset) (manifests must be UTF-8 YAML or JSON)"
        case .unreadable(let message):
            return "cannot read file: \(message)"
        case .syntax(let line, let column, let problem):
            if let line, let column { return "YAML syntax error at line \(line), column \(column): \(problem)" }
            return "YAML syntax error: \(problem)"
        case .unsafe(let message):
            return message
        }
    }
}

/// The outcome of reading one manifest file.
public struct ManifestFile: Hashable, Sendable {
    /// The name used in messages (the file's last path component unless given).
    public var fileName: String
    public var documents: [ManifestDocument]
    /// Set when the file (or its remainder after a syntax error) could not be read.
    public var fileError: ManifestFileError?

    /// Objects that decoded and validated cleanly.
    public var objects: [ManifestObject] { documents.compactMap(\.object) }

    /// Every error, one line each, naming the file, e.g. `my-pod.yaml: spec.containers[0].image: Required value`.
    public var errorMessages: [String] {
        var lines: [String] = []
        if let fileError { lines.append("\(fileName): \(fileError)") }
        for document in documents {
            lines += document.errors.map { "\(prefix(document))\($0)" }
        }
        return lines
    }

    /// Every warning, one line each, e.g. `my-pod.yaml: unknown field "spec.containers[0].imagePullPolcy"`.
    public var warningMessages: [String] {
        documents.flatMap { document in document.warnings.map { "\(prefix(document))\($0)" } }
    }

    private func prefix(_ document: ManifestDocument) -> String {
        // Single-document files keep the short form users expect; multi-document files say which document.
        documents.count > 1 || document.index > 0
            ? "\(fileName): document \(document.index + 1)\(document.line.map { " (line \($0))" } ?? ""): " : "\(fileName): "
    }
}

extension ManifestFile {
    /// Object keys (`kind namespace/name`) defined more than once across `files`, with the files (in order) that
    /// define them. Kubelet's file source keeps the last one read; the agent decides what to do and should say so.
    public static func duplicateKeys(in files: [ManifestFile]) -> [String: [String]] {
        var seen: [String: [String]] = [:]
        for file in files {
            for document in file.documents {
                guard let key = document.object?.key, let kind = document.object?.kind else { continue }
                seen["\(kind) \(key)", default: []].append(file.fileName)
            }
        }
        return seen.filter { $0.value.count > 1 }
    }
}

/// How one kind is decoded: accepted apiVersions and the reader for the object.
struct KindHandler: Sendable {
    let apiVersions: [String]
    let decode: @Sendable (ObjectReader) -> (object: ManifestObject?, errors: [FieldError])
}

/// Reads manifest files: size and encoding checks, YAML parsing (JSON is parsed as YAML), one object per document,
/// Kubernetes defaults and validation, unknown-field warnings. Never traps on bad input.
public struct ManifestDecoder: Sendable {
    public var limits: DecodeLimits

    public init(limits: DecodeLimits = DecodeLimits()) {
        self.limits = limits
    }

    /// Kinds the agent will support later: reported as "not supported yet" rather than unknown.
    public static let plannedKinds: [String] = []

    static let handlers: [String: KindHandler] = [
        "Pod": KindHandler(apiVersions: ["v1"]) { reader in
            var pod = Pod(reader: reader)
            Defaults.apply(to: &pod)
            let errors = Validation.validate(pod)
            return (.pod(pod), errors)
        },
        "Service": KindHandler(apiVersions: ["v1"]) { reader in
            var service = Service(reader: reader)
            Defaults.apply(to: &service)
            return (.service(service), Validation.validate(service))
        },
        "Endpoints": KindHandler(apiVersions: ["v1"]) { reader in
            var endpoints = Endpoints(reader: reader)
            Defaults.apply(to: &endpoints)
            return (.endpoints(endpoints), Validation.validate(endpoints))
        },
        "EndpointSlice": KindHandler(apiVersions: ["discovery.k8s.io/v1"]) { reader in
            var slice = EndpointSlice(reader: reader)
            Defaults.apply(to: &slice)
            return (.endpointSlice(slice), Validation.validate(slice))
        },
        "ConfigMap": KindHandler(apiVersions: ["v1"]) { reader in
            var configMap = ConfigMap(reader: reader)
            Defaults.apply(to: &configMap)
            return (.configMap(configMap), Validation.validate(configMap))
        },
        "Secret": KindHandler(apiVersions: ["v1"]) { reader in
            var secret = Secret(reader: reader)
            Defaults.apply(to: &secret)
            return (.secret(secret), Validation.validate(secret))
        },
        "PersistentVolume": KindHandler(apiVersions: ["v1"]) { reader in
            var volume = PersistentVolume(reader: reader)
            Defaults.apply(to: &volume)
            return (.persistentVolume(volume), Validation.validate(volume))
        },
        "PersistentVolumeClaim": KindHandler(apiVersions: ["v1"]) { reader in
            var claim = PersistentVolumeClaim(reader: reader)
            Defaults.apply(to: &claim)
            return (.persistentVolumeClaim(claim), Validation.validate(claim))
        },
    ]

    /// True for names the agent reads from the manifest directory: `*.yaml`, `*.yml`, `*.json`, not hidden.
    public static func isManifestFileName(_ name: String) -> Bool {
        guard !name.hasPrefix(".") else { return false }
        let lower = name.lowercased()
        return lower.hasSuffix(".yaml") || lower.hasSuffix(".yml") || lower.hasSuffix(".json")
    }

    /// Reads a file, refusing it before reading when it is larger than `limits.maxFileBytes`.
    public func decodeFile(atPath path: String, displayName: String? = nil) -> ManifestFile {
        let name = displayName ?? (path as NSString).lastPathComponent
        var file = ManifestFile(fileName: name, documents: [])
        // Only regular files (symlinks followed, like kubelet's os.Stat): opening a FIFO would block the caller.
        var info = stat()
        guard stat(path, &info) == 0 else {
            file.fileError = ManifestFileError(.unreadable("cannot stat \(path): \(String(cString: strerror(errno)))"))
            return file
        }
        guard info.st_mode & S_IFMT == S_IFREG else {
            file.fileError = ManifestFileError(.unreadable("\(path) is not a regular file"))
            return file
        }
        guard let handle = FileHandle(forReadingAtPath: path) else {
            file.fileError = ManifestFileError(.unreadable("cannot open \(path)"))
            return file
        }
        // `FileHandle(forReadingAtPath:)` owns its descriptor and closes it when released at the end of this call.
        do {
            let size = try handle.seekToEnd()
            if size > UInt64(limits.maxFileBytes) {
                file.fileError = ManifestFileError(.tooLarge(size: Int(clamping: size), limit: limits.maxFileBytes))
                return file
            }
            try handle.seek(toOffset: 0)
            // Read at most one byte past the limit, in case the file grew after the size check.
            let data = try handle.read(upToCount: limits.maxFileBytes + 1) ?? Data()
            return decode(data, fileName: name)
        } catch {
            file.fileError = ManifestFileError(.unreadable(String(describing: error)))
            return file
        }
    }

    /// Decodes manifest bytes. `fileName` is used in messages.
    public func decode(_ data: Data, fileName: String) -> ManifestFile {
        var file = ManifestFile(fileName: fileName, documents: [])
        if data.count > limits.maxFileBytes {
            file.fileError = ManifestFileError(.tooLarge(size: data.count, limit: limits.maxFileBytes))
            return file
        }
        var bytes = [UInt8](data)
        if bytes.starts(with: [0xEF, 0xBB, 0xBF]) { bytes.removeFirst(3) }
        if let offset = Self.firstInvalidUTF8Offset(bytes) {
            file.fileError = ManifestFileError(.notUTF8(offset: offset))
            return file
        }
        let text = String(decoding: bytes, as: UTF8.self)
        let scan = PreScan.scan(bytes, depthLimit: limits.maxDepth)
        if let deep = scan.tooDeep {
            file.fileError = ManifestFileError(
                .unsafe("line \(deep.line): YAML nesting deeper than \(limits.maxDepth) levels; refusing to parse (manifests nest about 15 levels)"))
            return file
        }
        if let problem = scan.aliasKey {
            file.fileError = ManifestFileError(.unsafe(problem))
            return file
        }
        return decode(text: text, into: file)
    }

    /// Decodes manifest text (already known to be UTF-8).
    public func decode(_ text: String, fileName: String) -> ManifestFile {
        decode(Data(text.utf8), fileName: fileName)
    }

    private func decode(text: String, into file: ManifestFile) -> ManifestFile {
        var file = file
        do {
            // The basic resolver (no rules): scalars are typed by `ScalarType`, and Yams' default rules would run
            // regular expressions on every mapping key while checking for duplicates.
            let parser = try Parser(yaml: text, resolver: .basic)
            var index = 0
            while let root = try parser.nextRoot() {
                defer { index += 1 }
                // An empty document (a stray `---`, a comment-only file) holds nothing to run.
                if isNull(root) { continue }
                file.documents.append(decodeDocument(root, index: index))
            }
        } catch let error as YamlError {
            file.fileError = Self.syntaxError(error)
        } catch {
            file.fileError = ManifestFileError(.syntax(line: nil, column: nil, problem: String(describing: error)))
        }
        return file
    }

    func decodeDocument(_ root: Node, index: Int) -> ManifestDocument {
        let ctx = DecodeContext(limits: limits)
        var document = ManifestDocument(index: index, line: root.mark?.line, errors: [], warnings: [])
        guard let reader = ObjectReader(node: root, path: .root, ctx: ctx) else {
            document.errors = ctx.allErrors
            return document
        }
        document.apiVersion = reader.string("apiVersion")
        document.kind = reader.string("kind")
        if let metadata = Self.value(of: "metadata", in: root)?.mapping, let name = Self.value(of: "name", in: .mapping(metadata))?.scalar?.string {
            let namespace = Self.value(of: "namespace", in: .mapping(metadata))?.scalar?.string ?? Defaults.namespace
            document.key = "\(namespace.isEmpty ? Defaults.namespace : namespace)/\(name)"
        }
        guard let kind = document.kind, !kind.isEmpty else {
            // A present but mistyped field already has its own error.
            if !reader.has("kind") { ctx.error(.required(FieldPath("kind"), "every manifest document needs a kind, e.g. `kind: Pod`")) }
            if !reader.has("apiVersion") { ctx.error(.required(FieldPath("apiVersion"))) }
            document.errors = ctx.allErrors
            return document
        }
        guard let handler = Self.handlers[kind] else {
            let apiVersion = document.apiVersion.map { " (apiVersion \(goQuote($0)))" } ?? ""
            let message =
                Self.plannedKinds.contains(kind)
                ? "kind \(goQuote(kind)) is not supported yet; document ignored"
                : "unknown kind \(goQuote(kind))\(apiVersion); document ignored"
            ctx.warn(DecodeWarning(path: FieldPath("kind"), message: message))
            document.errors = ctx.allErrors
            document.warnings = ctx.allWarnings
            return document
        }
        guard let apiVersion = document.apiVersion, !apiVersion.isEmpty else {
            if !reader.has("apiVersion") { ctx.error(.required(FieldPath("apiVersion"))) }
            document.errors = ctx.allErrors
            return document
        }
        guard handler.apiVersions.contains(apiVersion) else {
            ctx.error(.unsupported(FieldPath("apiVersion"), .string(apiVersion), handler.apiVersions))
            document.errors = ctx.allErrors
            return document
        }
        let (object, validationErrors) = handler.decode(reader)
        reader.finish()
        // Decode errors (types, limits) come first: validation of a half-read object may only repeat them.
        let decodeErrors = ctx.allErrors
        document.errors = decodeErrors.isEmpty ? validationErrors : decodeErrors + validationErrors.filter { !overlaps($0, decodeErrors) }
        document.warnings = ctx.allWarnings
        if document.errors.count > limits.maxDiagnostics {
            let dropped = document.errors.count - limits.maxDiagnostics
            document.errors = Array(document.errors.prefix(limits.maxDiagnostics)) + [.forbidden(.root, "\(dropped) more errors not shown")]
        }
        if document.errors.isEmpty {
            document.object = object
            document.key = object?.key ?? document.key
        }
        return document
    }

    /// A mapping's value by key text. (Yams' `Mapping[String]` compares resolved tags, which runs regexes.)
    static func value(of key: String, in node: Node) -> Node? {
        guard case .mapping(let mapping) = node else { return nil }
        for (keyNode, value) in mapping {
            if case .scalar(let scalar) = keyNode, scalar.string == key { return value }
        }
        return nil
    }

    /// A validation error on a field whose decoding already failed: `spec.containers: Required value` after
    /// `spec.containers[0]` was not a map, or `...containerPort: Required value` after a type error there.
    private func overlaps(_ error: FieldError, _ decodeErrors: [FieldError]) -> Bool {
        decodeErrors.contains { decodeError in
            let a = decodeError.path.components
            let b = error.path.components
            return a.starts(with: b) || b.starts(with: a)
        }
    }

    static func syntaxError(_ error: YamlError) -> ManifestFileError {
        switch error {
        case .scanner(let context, let problem, let mark, _), .parser(let context, let problem, let mark, _),
            .composer(let context, let problem, let mark, _):
            var text = problem
            if let context { text += " (\(context.text) at line \(context.mark.line), column \(context.mark.column))" }
            return ManifestFileError(.syntax(line: mark.line, column: mark.column, problem: text))
        case .reader(let problem, let offset, _, let yaml):
            if let offset {
                let (line, column) = lineAndColumn(ofByteOffset: offset, in: yaml)
                return ManifestFileError(.syntax(line: line, column: column, problem: problem))
            }
            return ManifestFileError(.syntax(line: nil, column: nil, problem: problem))
        case .duplicatedKeysInMapping(let duplicates, let context):
            let keys = duplicates.map(goQuote).joined(separator: ", ")
            return ManifestFileError(.syntax(line: context.mark.line, column: context.mark.column, problem: "mapping key \(keys) already defined"))
        default:
            return ManifestFileError(.syntax(line: nil, column: nil, problem: String(describing: error)))
        }
    }

    static func lineAndColumn(ofByteOffset offset: Int, in text: String) -> (Int, Int) {
        var line = 1
        var column = 1
        for byte in text.utf8.prefix(offset) {
            if byte == UInt8(ascii: "\n") {
                line += 1
                column = 1
            } else if byte & 0xC0 != 0x80 {
                column += 1
            }
        }
        return (line, column)
    }

    /// Offset of the first byte that is not valid UTF-8, or nil.
    static func firstInvalidUTF8Offset(_ bytes: [UInt8]) -> Int? {
        var parser = Unicode.UTF8.ForwardParser()
        var iterator = bytes.makeIterator()
        var offset = 0
        while true {
            switch parser.parseScalar(from: &iterator) {
            case .valid(let scalar):
                offset += scalar.count
            case .emptyInput:
                return nil
            case .error(let length):
                _ = length
                return offset
            }
        }
    }
}
