import Foundation
import Testing

@testable import KubeAPI

@Suite struct ConfigObjectTests {
    @Test func configMapDecodesDataBinaryDataAndImmutable() throws {
        let file = decode(
            """
            apiVersion: v1
            kind: ConfigMap
            metadata: {name: settings}
            immutable: true
            data:
              color: blue
              app.properties: |
                a=1
            binaryData:
              blob: AAEC
            """, name: "cm.yaml")
        #expect(file.errorMessages == [])
        #expect(file.warningMessages == [])
        guard case .configMap(let configMap) = try #require(file.objects.first) else {
            Issue.record("not a ConfigMap")
            return
        }
        #expect(configMap.metadata.namespace == "default")
        #expect(configMap.key == "default/settings")
        #expect(configMap.immutable == true)
        #expect(configMap.data == ["color": "blue", "app.properties": "a=1\n"])
        #expect(configMap.binaryData == ["blob": Data([0, 1, 2])])
        #expect(configMap.contents["blob"] == Data([0, 1, 2]))
        #expect(configMap.contents["color"] == Data("blue".utf8))
        #expect(file.documents.first?.object?.kind == "ConfigMap")
    }

    @Test func secretMergesStringDataOverDataAndDefaultsType() throws {
        let file = decode(
            """
            apiVersion: v1
            kind: Secret
            metadata: {name: creds, namespace: apps}
            data:
              username: YWRtaW4=
              password: b2xk
            stringData:
              password: new-password
            """, name: "s.yaml")
        #expect(file.errorMessages == [])
        guard case .secret(let secret) = try #require(file.objects.first) else {
            Issue.record("not a Secret")
            return
        }
        #expect(secret.key == "apps/creds")
        #expect(secret.type == "Opaque")
        #expect(secret.data == ["username": Data("admin".utf8), "password": Data("new-password".utf8)])
        // Descriptions (logs, error interpolation) never show values.
        #expect(!"\(secret)".contains("new-password") && !String(reflecting: secret).contains("new-password"))
        // JSON (the stored form, `get -o yaml`) carries data base64-encoded, as the API does.
        let json = String(decoding: try KubeJSON.encoder(pretty: false).encode(secret), as: UTF8.self)
        #expect(json.contains("\"password\":\"bmV3LXBhc3N3b3Jk\""))
    }

    @Test(arguments: [
        // (yaml body, expected errors)
        (
            "kind: ConfigMap\nmetadata: {name: c}\ndata: {\"bad key\": x}",
            [
                "data[bad key]: Invalid value: \"bad key\": a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')"
            ]
        ),
        (
            "kind: ConfigMap\nmetadata: {name: c}\ndata: {k: x}\nbinaryData: {k: eA==}",
            ["binaryData[k]: Invalid value: \"k\": duplicate of key present in data"]
        ),
        ("kind: Secret\nmetadata: {name: s}\ndata: {k: \"not base64!\"}", ["data[k]: Invalid value: \"<redacted>\": illegal base64 data at input byte 3"]),
        ("kind: Secret\nmetadata: {name: s}\ntype: kubernetes.io/tls\ndata: {tls.crt: eA==}", ["data[tls.key]: Required value"]),
        ("kind: Secret\nmetadata: {name: s}\nstringData: {\"..k\": v}", ["data[..k]: Invalid value: \"..k\": must not start with '..'"]),
    ])
    func invalidObjectsAreRejected(body: String, expected: [String]) {
        let file = decode("apiVersion: v1\n" + body, name: "o.yaml")
        #expect(file.errorMessages == expected.map { "o.yaml: " + $0 })
        #expect(file.objects.isEmpty)
    }

    @Test func oversizedConfigMapIsRejected() {
        let big = String(repeating: "x", count: Validation.maxConfigBytes + 1)
        let file = decode("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: big}\ndata: {k: \(big)}\n", name: "big.yaml")
        #expect(file.errorMessages == ["big.yaml: data: Too long: may not be more than 1048576 bytes"])
    }

    @Test func duplicateKeysAreCountedPerKind() {
        let pod = decode(podYAML(), name: "a.yaml")
        let configMap = decode("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: p}\n", name: "b.yaml")
        let again = decode("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: p}\n", name: "c.yaml")
        #expect(ManifestFile.duplicateKeys(in: [pod, configMap]).isEmpty)
        #expect(ManifestFile.duplicateKeys(in: [pod, configMap, again]) == ["ConfigMap default/p": ["b.yaml", "c.yaml"]])
    }
}

@Suite struct PersistentVolumeTests {
    @Test func claimAndVolumeDecodeWithDefaults() throws {
        let file = decode(
            """
            apiVersion: v1
            kind: PersistentVolume
            metadata: {name: pv1, namespace: ignored}
            spec:
              capacity: {storage: 1Gi}
              accessModes: [ReadWriteOnce]
              local: {path: /mnt/disk}
            ---
            apiVersion: v1
            kind: PersistentVolumeClaim
            metadata: {name: data}
            spec:
              accessModes: [ReadWriteOnce]
              resources: {requests: {storage: 64Mi}}
            """, name: "pv.yaml")
        #expect(file.errorMessages == [])
        guard case .persistentVolume(let volume) = file.objects.first, case .persistentVolumeClaim(let claim) = file.objects.last else {
            Issue.record("kinds: \(file.objects.map(\.kind))")
            return
        }
        #expect(volume.key == "/pv1" && volume.metadata.namespace == nil)
        #expect(volume.spec.persistentVolumeReclaimPolicy == "Retain" && volume.spec.volumeMode == "Filesystem")
        #expect(claim.key == "default/data")
        #expect(claim.spec.resources?.requests?["storage"]?.description == "64Mi")
    }

    @Test(arguments: [
        ("kind: PersistentVolumeClaim\nmetadata: {name: c}\nspec: {accessModes: [ReadWriteOnce]}", ["spec.resources.requests[storage]: Required value"]),
        (
            "kind: PersistentVolumeClaim\nmetadata: {name: c}\nspec: {accessModes: [Sometimes], resources: {requests: {storage: 1Gi}}}",
            [
                "spec.accessModes[0]: Unsupported value: \"Sometimes\": supported values: \"ReadOnlyMany\", \"ReadWriteMany\", \"ReadWriteOnce\", \"ReadWriteOncePod\""
            ]
        ),
        (
            "kind: PersistentVolume\nmetadata: {name: v}\nspec: {capacity: {storage: 1Gi}, accessModes: [ReadWriteOnce]}",
            ["spec: Required value: must specify a volume type (this agent supports hostPath and local)"]
        ),
        (
            "kind: PersistentVolume\nmetadata: {name: v}\nspec: {accessModes: [ReadWriteOnce], hostPath: {path: /x}, persistentVolumeReclaimPolicy: Keep}",
            [
                "spec.capacity[storage]: Required value",
                "spec.persistentVolumeReclaimPolicy: Unsupported value: \"Keep\": supported values: \"Delete\", \"Recycle\", \"Retain\"",
            ]
        ),
    ])
    func invalidStorageObjectsAreRejected(body: String, expected: [String]) {
        let file = decode("apiVersion: v1\n" + body, name: "s.yaml")
        #expect(file.errorMessages == expected.map { "s.yaml: " + $0 })
    }
}
