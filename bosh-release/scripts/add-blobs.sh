#!/usr/bin/env bash
# Builds the broker and the example adapter for Linux x86_64 and adds them to the release
# as blobs (packages/*/spec name the blob paths). Not run in CI: it needs the bosh CLI.
#
#   bosh-release/scripts/add-blobs.sh          # cargo build --release, then bosh add-blob
#   bosh-release/scripts/add-blobs.sh --src    # dev builds without a blobstore: put the
#                                              # tarballs in the git-ignored src/ instead
# Then: bosh create-release --dir bosh-release --force [--tarball /tmp/odb.tgz]
#
# The binaries link glibc dynamically; built on Debian 12 they need glibc 2.34+, which the
# ubuntu-jammy and newer stemcells have. Set CARGO_BUILD_TARGET (e.g. with cargo-zigbuild's
# x86_64-unknown-linux-gnu.2.17 target, via CARGO=cargo-zigbuild) for older stemcells.
set -euo pipefail

mode=blob
case "${1:-}" in
  "") ;;
  --src) mode=src ;;
  *) echo "usage: $0 [--src]" >&2; exit 2 ;;
esac

release_dir=$(cd "$(dirname "$0")/.." && pwd)
repo_root=$(cd "$release_dir/.." && pwd)
cargo=${CARGO:-cargo}
subcommand=build
[ "$cargo" = cargo-zigbuild ] && { cargo=cargo; subcommand=zigbuild; }

cd "$repo_root"
"$cargo" "$subcommand" --release --locked -p on-demand-broker -p example-adapter

target_dir=${CARGO_TARGET_DIR:-$repo_root/target}
if [ -n "${CARGO_BUILD_TARGET:-}" ]; then
  bin_dir=$target_dir/${CARGO_BUILD_TARGET}/release
else
  bin_dir=$target_dir/release
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# package name : binary name (the package installs bin/<binary>)
for entry in on-demand-broker:on-demand-broker example-service-adapter:example-service-adapter; do
  package=${entry%%:*}
  binary=${entry##*:}
  [ -x "$bin_dir/$binary" ] || { echo "add-blobs: $bin_dir/$binary was not built" >&2; exit 1; }
  if command -v file >/dev/null && ! file -L "$bin_dir/$binary" | grep -q 'x86-64'; then
    echo "add-blobs: $bin_dir/$binary is not a Linux x86_64 binary" >&2
    exit 1
  fi
  if command -v objdump >/dev/null; then
    glibc=$(objdump -T "$bin_dir/$binary" | grep -o 'GLIBC_[0-9.]*' | sort -uV | tail -1 || true)
    echo "add-blobs: $binary needs ${glibc:-no versioned glibc symbols}"
  fi
  tarball=$work/$package-linux-amd64.tgz
  tar -czf "$tarball" -C "$bin_dir" "$binary"
  blob_path=$package/$package-linux-amd64.tgz
  if [ "$mode" = src ]; then
    mkdir -p "$release_dir/src/$package"
    cp "$tarball" "$release_dir/src/$blob_path"
    echo "add-blobs: wrote src/$blob_path (git-ignored)"
  else
    command -v bosh >/dev/null || { echo "add-blobs: the bosh CLI (cloudfoundry/bosh-cli) is not on PATH; use --src for a dev build" >&2; exit 1; }
    bosh add-blob --dir "$release_dir" "$tarball" "$blob_path"
  fi
done

if [ "$mode" = blob ]; then
  echo "add-blobs: done. Commit config/blobs.yml after 'bosh upload-blobs --dir $release_dir'."
fi
