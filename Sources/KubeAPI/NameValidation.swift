// Kubernetes' name and identifier checks (apimachinery pkg/util/validation), with their exact messages: users
// paste these into search engines, so the wording (including Kubernetes' double spaces) is kept.

enum Names {
    static let dns1123LabelMaxLength = 63
    static let dns1123SubdomainMaxLength = 253

    static func isAlnumLower(_ c: Character) -> Bool { c.isASCII && (c.isLowercase || c.isNumber) }
    static func isAlnum(_ c: Character) -> Bool { c.isASCII && (c.isLetter || c.isNumber) }

    static func matchesDNS1123Label(_ s: String) -> Bool {
        guard let first = s.first, let last = s.last, isAlnumLower(first), isAlnumLower(last) else { return false }
        return s.allSatisfy { isAlnumLower($0) || $0 == "-" }
    }

    /// Messages for an invalid DNS-1123 label (container names, volume names, namespaces, hostnames); empty if valid.
    static func dns1123Label(_ s: String) -> [String] {
        var errors: [String] = []
        if s.utf8.count > dns1123LabelMaxLength { errors.append("must be no more than 63 characters") }
        if !matchesDNS1123Label(s) {
            errors.append(
                "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')"
            )
        }
        return errors
    }

    /// Messages for an invalid DNS-1123 subdomain (pod names); empty if valid.
    static func dns1123Subdomain(_ s: String) -> [String] {
        var errors: [String] = []
        if s.utf8.count > dns1123SubdomainMaxLength { errors.append("must be no more than 253 characters") }
        let labels = s.split(separator: ".", omittingEmptySubsequences: false)
        if s.isEmpty || !labels.allSatisfy({ matchesDNS1123Label(String($0)) }) {
            errors.append(
                "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
            )
        }
        return errors
    }

    /// IANA service names (port names): at most 15 characters, lowercase alphanumerics and '-', one letter at least.
    static func ianaServiceName(_ s: String) -> [String] {
        var errors: [String] = []
        if s.utf8.count > 15 { errors.append("must be no more than 15 characters") }
        if !s.allSatisfy({ isAlnumLower($0) || $0 == "-" }) {
            errors.append("must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)")
        }
        if s.contains("--") { errors.append("must not contain consecutive hyphens") }
        if !s.contains(where: { $0.isASCII && $0.isLowercase }) { errors.append("must contain at least one letter (a-z)") }
        if s.hasPrefix("-") || s.hasSuffix("-") { errors.append("must not begin or end with a hyphen") }
        return errors
    }

    /// Environment variable names: `[-._a-zA-Z][-._a-zA-Z0-9]*`.
    static func envVarName(_ s: String) -> [String] {
        func allowed(_ c: Character) -> Bool { c.isASCII && (c.isLetter || c.isNumber || c == "-" || c == "." || c == "_") }
        guard let first = s.first, allowed(first), !first.isNumber, s.allSatisfy(allowed) else {
            return [
                "a valid environment variable name must consist of alphabetic characters, digits, '_', '-', or '.', and must not start with a digit (e.g. 'my.env-name',  or 'MY_ENV.NAME',  or 'MyEnvName1', regex used for validation is '[-._a-zA-Z][-._a-zA-Z0-9]*')"
            ]
        }
        return []
    }

    /// ConfigMap and Secret keys: `[-._a-zA-Z0-9]+`, at most 253 characters, not `.` or `..`.
    static func configMapKey(_ s: String) -> [String] {
        var errors: [String] = []
        if s.utf8.count > 253 { errors.append("must be no more than 253 characters") }
        if s.isEmpty || !s.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "-._".contains($0)) }) {
            errors.append(
                "a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')"
            )
        }
        if s == "." { errors.append("must not be '.'") }
        if s == ".." { errors.append("must not be '..'") } else if s.hasPrefix("..") { errors.append("must not start with '..'") }
        return errors
    }

    /// HTTP header names: `[-A-Za-z0-9]+`.
    static func httpHeaderName(_ s: String) -> [String] {
        if !s.isEmpty && s.allSatisfy({ isAlnum($0) || $0 == "-" }) { return [] }
        return [
            "a valid HTTP header must consist of alphanumeric characters or '-' (e.g. 'X-Header-Name', regex used for validation is '[-A-Za-z0-9]+')"
        ]
    }

    /// Label keys: an optional DNS-1123 subdomain prefix and `/`, then a name of at most 63 characters.
    static func qualifiedName(_ s: String) -> [String] {
        let parts = s.split(separator: "/", omittingEmptySubsequences: false)
        var name = s
        var errors: [String] = []
        if parts.count == 2 {
            let prefix = String(parts[0])
            name = String(parts[1])
            if prefix.isEmpty {
                errors.append("prefix part must be non-empty")
            } else {
                errors += dns1123Subdomain(prefix).map { "prefix part " + $0 }
            }
        } else if parts.count > 2 {
            return [
                "a qualified name must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]') with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"
            ]
        }
        if name.isEmpty {
            errors.append("name part must be non-empty")
        } else {
            if name.utf8.count > 63 { errors.append("name part must be no more than 63 characters") }
            if !labelValueShape(name) {
                errors.append(
                    "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')"
                )
            }
        }
        return errors
    }

    static func labelValueShape(_ s: String) -> Bool {
        guard let first = s.first, let last = s.last, isAlnum(first), isAlnum(last) else { return false }
        return s.allSatisfy { isAlnum($0) || "-_.".contains($0) }
    }

    /// Label values: empty, or at most 63 characters of the label-name shape.
    static func labelValue(_ s: String) -> [String] {
        if s.isEmpty { return [] }
        var errors: [String] = []
        if s.utf8.count > 63 { errors.append("must be no more than 63 characters") }
        if !labelValueShape(s) {
            errors.append(
                "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')"
            )
        }
        return errors
    }

    /// Dotted-quad IPv4 or an IPv6 address (a light check: the agent only compares and prints them).
    static func isIP(_ s: String) -> Bool {
        let quads = s.split(separator: ".", omittingEmptySubsequences: false)
        if quads.count == 4 {
            return quads.allSatisfy { quad in
                guard !quad.isEmpty, quad.count <= 3, quad.allSatisfy(\.isNumber), let value = Int(quad) else { return false }
                return value <= 255 && !(quad.count > 1 && quad.hasPrefix("0"))
            }
        }
        guard s.contains(":"), s.count <= 45 else { return false }
        let doubleColons = s.components(separatedBy: "::").count - 1
        let groups = s.components(separatedBy: ":")
        guard doubleColons <= 1, groups.allSatisfy({ $0.count <= 4 && $0.allSatisfy(\.isHexDigit) }) else { return false }
        return doubleColons == 0 ? groups.count == 8 && !groups.contains("") : groups.count <= 9
    }
}
