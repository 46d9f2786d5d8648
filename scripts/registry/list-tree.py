#!/usr/bin/env python3
# Prints one line per entry under ROOT (path, mode, owner, size for files, link target, device, nlink, xattr names),
# for comparing two unpacked root filesystems. Directory sizes are left out (they depend on the filesystem history).
import os, sys, stat
root = sys.argv[1]
for d, dirs, files in os.walk(root):
    for n in sorted(dirs + files):
        p = os.path.join(d, n); st = os.lstat(p); rel = os.path.relpath(p, root)
        t = stat.S_IFMT(st.st_mode)
        size = st.st_size if stat.S_ISREG(st.st_mode) else 0
        link = os.readlink(p) if stat.S_ISLNK(st.st_mode) else ''
        dev = f"{os.major(st.st_rdev)}:{os.minor(st.st_rdev)}" if stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode) else ''
        try: xa = sorted(os.listxattr(p, follow_symlinks=False))
        except OSError: xa = []
        print(rel, oct(st.st_mode), st.st_uid, st.st_gid, size, link, dev, st.st_nlink if stat.S_ISREG(st.st_mode) else '', xa)
