// Reads config.json. Decoding errors become one line naming the field (`process.user.uid`), since
// JSONDecoder knows the coding path of what it could not decode.
import FoundationEssentials
import OCISpec

public enum ConfigLoader {
    public static func load(bundle: String) throws(RuntimeError) -> OCI.Spec {
        let path = bundle + "/config.json"
        let bytes: [UInt8]
        do {
            bytes = try FileSystem.read(path)
        } catch {
            throw RuntimeError("config.json: \(error.message)")
        }
        return try decode(bytes)
    }

    public static func decode(_ bytes: [UInt8]) throws(RuntimeError) -> OCI.Spec {
        try decode(OCI.Spec.self, bytes, file: "config.json")
    }

    /// Decodes any OCI JSON document (`config.json`, `process.json`) with field-path errors.
    public static func decode<T: Decodable>(_ type: T.Type, _ bytes: [UInt8], file: String) throws(RuntimeError) -> T {
        do {
            return try JSONDecoder().decode(T.self, from: Data(bytes))
        } catch let error as DecodingError {
            throw describe(error, file: file)
        } catch {
            throw RuntimeError("\(file): \(error)")
        }
    }

    static func fieldPath(_ path: [any CodingKey]) -> String {
        var out = ""
        for key in path {
            if let index = key.intValue {
                out += "[\(index)]"
            } else {
                out += out.isEmpty ? key.stringValue : "." + key.stringValue
            }
        }
        return out
    }

    static func describe(_ error: DecodingError, file: String) -> RuntimeError {
        switch error {
        case .typeMismatch(let type, let context):
            return RuntimeError("\(file): \(located(context.codingPath)): expected \(jsonTypeName(type))")
        case .valueNotFound(let type, let context):
            return RuntimeError("\(file): \(located(context.codingPath)): expected \(jsonTypeName(type)), found null")
        case .keyNotFound(let key, let context):
            return RuntimeError("\(file): \(located(context.codingPath + [key])): required field is missing")
        case .dataCorrupted(let context):
            if context.codingPath.isEmpty { return RuntimeError("\(file): invalid JSON") }
            return RuntimeError("\(file): \(located(context.codingPath)): invalid value")
        @unknown default:
            return RuntimeError("\(file): invalid document")
        }
    }

    private static func located(_ path: [any CodingKey]) -> String {
        let text = fieldPath(path)
        return text.isEmpty ? "(top level)" : text
    }

    private static func jsonTypeName(_ type: Any.Type) -> String {
        switch type {
        case is String.Type: return "a string"
        case is Bool.Type: return "a boolean"
        case is UInt32.Type, is UInt64.Type, is UInt.Type: return "a non-negative integer"
        case is Int.Type, is Int64.Type, is Int32.Type: return "an integer"
        case is [String].Type: return "an array of strings"
        default:
            let name = "\(type)"
            if name.hasPrefix("Array") { return "an array" }
            if name.hasPrefix("Dictionary") { return "an object" }
            return "an object"
        }
    }
}
