# Shared by the scripts that run the agent for a measurement (bench/*.sh, scripts/gen-order-file.sh; sourced).

# The directories of a cgroup parent NAME the agent makes below this shell's own cgroup, one per hierarchy
# (name=systemd and the unified one included), whether they exist or not: cgroup_parent_dirs NAME
cgroup_parent_dirs() {
    local _ controllers path name base
    while IFS=: read -r _ controllers path; do
        name=${controllers#name=}; [ -z "$controllers" ] && name=unified
        base=/sys/fs/cgroup/$name; [ -d "$base" ] || base=/sys/fs/cgroup
        echo "$base${path%/}/$1"
    done </proc/self/cgroup
}

# Removes a cgroup parent the agent made (and emptied): remove_cgroup_parent NAME
remove_cgroup_parent() {
    local dir
    for dir in $(cgroup_parent_dirs "$1"); do rmdir "$dir/pods" "$dir" 2>/dev/null; done
    return 0
}

# The benchmark's pod: busybox writes a marker file named after the pod into MARKS (a hostPath directory), then
# sleeps: bench_pod_yaml NAME MARKS
bench_pod_yaml() {
    cat <<POD
apiVersion: v1
kind: Pod
metadata:
  name: $1
spec:
  terminationGracePeriodSeconds: 1
  volumes:
  - name: marks
    hostPath: {path: $2, type: Directory}
  containers:
  - name: main
    image: minikubelet.local/busybox:1.36
    imagePullPolicy: IfNotPresent
    command: ["sh", "-c", "touch /marks/$1; exec sleep 100000"]
    volumeMounts:
    - {name: marks, mountPath: /marks}
POD
}
