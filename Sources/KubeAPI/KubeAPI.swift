// KubeAPI: the Kubernetes object model and the manifest layer of minikubelet.
//
// Reading a manifest directory entry:
//
//     let file = ManifestDecoder().decodeFile(atPath: "/etc/minikubelet/web.yaml")
//     file.errorMessages    // ["web.yaml: spec.containers[0].image: Required value", ...]
//     file.warningMessages  // ["web.yaml: unknown field \"spec.containers[0].imagePullPolcy\""]
//     for case .pod(let pod) in file.objects { ... }   // defaulted and validated v1 Pods
//     ManifestFile.duplicateKeys(in: files)            // "Pod default/web": ["a.yaml", "b.yaml"]
//
// Pipeline per file: size limit (10 MiB, before reading) → UTF-8 check → nesting and alias-key pre-scans →
// Yams parse of every document (JSON is YAML) → per document: kind dispatch (`ManifestDecoder.handlers`),
// `ObjectReader` decoding with field paths and unknown-field warnings, `Defaults.apply`, `Validation.validate`.
// One bad document does not affect the others; a syntax error stops the file at that point.
//
// Helpers for the agent and agentctl: `QOSClass(pod:)`, `SpecHash.podSpec/container`, `HumanDuration.format`,
// `PodTableRow(pod:now:)` (kubectl's NAME READY STATUS RESTARTS AGE), `KubeJSON`/`KubeYAML` for printing.
//
// Adding a kind (Service, ConfigMap, ...): a model type conforming to `ManifestDecodable`, a `ManifestObject`
// case, and a `KindHandler` entry that decodes, defaults and validates it; remove it from `plannedKinds`.
