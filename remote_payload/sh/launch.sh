# A launch, when the host already holds this wrapper version: the shell answers "started"
# as soon as a background process of its own has written the running record (naming that
# process, its start time and the boot id), then that process execs Python as the job's
# supervisor (op "supervise", the request line read by head.sh), which starts the job: the
# reply waits for neither the interpreter, the wrapper nor the forks. Anything unusual (no
# /proc, no interpreter, a job file already there, the wrapper missing or not matching its
# hash) is undecided: the wrapper's own launch then decides, and pushes.
# After head.sh: $1 async dir, $2 the request line, $3 jid, $4 the wrapper's sha256, $5 its
# VERSION, $6 its RUNNING_PREFIX, $7 the bootstrap (for python -c), then either "auto" and
# the interpreters to look for (the first found runs), or "exec" and the interpreter's words.
umask 077
f=$1/$3; o=$1/.ctl; w=$o/wrapper-$4.py; q=$2; jid=$3; sha=$4; version=$5; prefix=$6; boot=$7
how=$8; shift 8
y=
if [ "$how" = auto ]; then
  for c in "$@"; do if command -v "$c" >/dev/null 2>&1; then y=$c; break; fi; done
  set -- "$y"
else
  command -v "$1" >/dev/null 2>&1 && y=$1
fi
# the wrapper's directory must be ours, not a link (the bootstrap also refuses one that
# others may write, and says so: the wrapper's own launch then gives its message)
if [ -z "$y" ] || [ ! -r /proc/self/stat ] || [ -e "$f" ] || [ -L "$f" ] ||
   [ -L "$o" ] || [ ! -O "$o" ] ||
   [ "$(sha256sum <"$w" 2>/dev/null)" != "$sha  -" ]; then s undecided; exit 0; fi
[ -n "$q" ] || { s undecided; exit 0; }
r=$( (
  exec </dev/null 2>/dev/null
  # once the record is ours, the job must start even if the session dies under us (the
  # controller killed, sshd restarted): "started" may then meet a pipe with no reader
  trap '' PIPE
  read -r t </proc/self/stat || exit 0
  p=${t%% *}; t=${t##*') '}; i=1; b=
  while [ $i -lt 20 ]; do t=${t#* }; i=$((i + 1)); done  # field 20 after the name: start
  read -r b </proc/sys/kernel/random/boot_id
  # ln, not mv: link(2) refuses a job file that appeared since the test above (another
  # launch of this jid), so the job is never started twice; the wrapper then decides
  n=$f.$p.tmp
  if ! printf '%s%s, "wrapper_start": %s, "boot_id": "%s", "version": %s}, "started": 1, '\
'"finished": 0, "ansible_job_id": "%s"}' "$prefix" "$p" "${t%% *}" "$b" "$version" "$jid" \
      >"$n" || ! ln -- "$n" "$f" 2>/dev/null; then rm -f -- "$n"; exit 0; fi
  rm -f -- "$n"
  echo started
  exec >/dev/null
  CTL_REQUEST=${q#CTL-REQUEST } exec "$@" -S -c "$boot"
) & )
if [ "$r" = started ]; then s started; else s undecided; fi
