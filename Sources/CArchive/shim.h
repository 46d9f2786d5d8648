#ifndef MINIKUBELET_CARCHIVE_SHIM_H
#define MINIKUBELET_CARCHIVE_SHIM_H
#include <archive.h>
#include <archive_entry.h>
#include <sys/mount.h>
#include <sys/xattr.h>
#endif
