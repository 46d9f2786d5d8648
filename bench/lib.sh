# Shared by the bench scripts that run the agent (sourced).

# Removes a cgroup parent the agent made below this shell's own cgroup, in every hierarchy (name=systemd and
# the unified one included): remove_cgroup_parent NAME
remove_cgroup_parent() {
    local _ controllers path name base
    while IFS=: read -r _ controllers path; do
        name=${controllers#name=}; [ -z "$controllers" ] && name=unified
        base=/sys/fs/cgroup/$name; [ -d "$base" ] || base=/sys/fs/cgroup
        rmdir "$base${path%/}/$1/pods" "$base${path%/}/$1" 2>/dev/null
    done </proc/self/cgroup
    return 0
}
