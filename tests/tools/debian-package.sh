# Sourced by the ensure-*.sh scripts: install one of Debian's packages when this machine lets us.
# Debian's packages work offline from the machine's package mirror (CI runs as root with apt-get).
# install_debian_package PACKAGE WHY: returns 0 if installed, 1 if it cannot be installed here.
install_debian_package() {
  local package=$1 why=$2
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "Installing Debian's $package for $why…"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$package" >/dev/null
    return 0
  fi
  if command -v sudo >/dev/null && command -v apt-get >/dev/null; then
    sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$package" >/dev/null \
      && return 0
  fi
  return 1
}
