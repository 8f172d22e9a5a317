# Sourced by the scripts that run `buildah build`: buildah leaves behind the working containers
# of stages used by name (FROM <stage>). Records the containers there are now; call
# remove_new_buildah_containers (e.g. from an EXIT trap) to remove those made since.
buildah_containers() { buildah containers --quiet --notruncate | sort; }
buildah_containers_before=$(buildah_containers)
remove_new_buildah_containers() {
  comm -13 <(echo "$buildah_containers_before") <(buildah_containers) |
    xargs -r buildah rm >/dev/null 2>&1 || true
}
