/// A path to a field inside an object, printed the way Kubernetes' `field.Path` prints it:
/// `spec.containers[0].image`, `metadata.labels[app]`.
public struct FieldPath: Hashable, Sendable, CustomStringConvertible {
    public enum Component: Hashable, Sendable {
        case field(String)
        case index(Int)
        case key(String)
    }

    public private(set) var components: [Component]

    public init(_ components: [Component] = []) {
        self.components = components
    }

    /// A path starting at a named top-level field, e.g. `FieldPath("spec")`.
    public init(_ field: String) {
        self.components = [.field(field)]
    }

    public static let root = FieldPath([Component]())

    public func child(_ name: String) -> FieldPath {
        FieldPath(components + [.field(name)])
    }

    public func index(_ index: Int) -> FieldPath {
        FieldPath(components + [.index(index)])
    }

    public func key(_ key: String) -> FieldPath {
        FieldPath(components + [.key(key)])
    }

    public var description: String {
        var out = ""
        for component in components {
            switch component {
            case .field(let name):
                if !out.isEmpty { out += "." }
                out += name
            case .index(let index):
                out += "[\(index)]"
            case .key(let key):
                out += "[\(key)]"
            }
        }
        return out
    }
}
