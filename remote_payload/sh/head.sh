# The start of every fast-path script: the controller sends this file, then the op's, as
# /bin/sh -c SCRIPT ctl TOKEN ASYNC_DIR [the op's arguments...].
#
# stdin is read to its end first (the request line, if any, kept), as the wrapper does, so
# the channel never closes under the client's writes. Each section of the reply is framed
# by TOKEN, chosen per call: the job cannot know it, so output files may hold any bytes.
# ASYNC_DIR is absolute, ~ or ~/...: ~ is the login's home, which sshd and sudo -H put in
# $HOME (the wrapper resolves it the same way).
q=; while IFS= read -r l; do case $l in 'CTL-REQUEST '*) q=$l;; esac; done
k=$1
s() { printf '\n%s %s\n' "$k" "$1"; }
case $2 in
\~) d=$HOME;;
\~/*) d=$HOME/${2#??};;
*) d=$2;;
esac
printf CTL-FAST; s dir; printf '%s' "$d"
# the op's script finds: $1 the async dir, $2 the request line (or nothing), its arguments
shift 2
set -- "$d" "$q" "$@"
