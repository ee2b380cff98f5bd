# A status read: the job file, and for a running record of ctl's the liveness facts of its
# wrapper (boot id, /proc/<pid>/stat), read BEFORE the record: a wrapper that is gone while
# its record still says running was gone before that record was read, so truly lost.
# After head.sh: $1 async dir, $3 jid, $4 how a running record of ctl's begins (the
# wrapper's RUNNING_PREFIX), $5 lines of a running job's output wanted (0: none), $6 bytes
# of each stream to send for them.
f=$1/$3
if [ ! -e "$f" ]; then s missing; exit 0; fi
h=$(head -c 64 -- "$f" 2>/dev/null)
case $h in
"$4"[0-9]*)
  p=${h#"$4"}; p=${p%%[!0-9]*}; b=; t=
  { read -r b </proc/sys/kernel/random/boot_id; } 2>/dev/null
  { read -r t </proc/"$p"/stat; } 2>/dev/null || { kill -0 "$p" 2>/dev/null && t=alive; }
  s pid; printf '%s' "$p"; s boot; printf '%s' "$b"; s stat; printf '%s' "$t"
  if [ "$5" -gt 0 ]; then
    s stdout; tail -c "$6" -- "$f.stdout" 2>/dev/null
    s stderr; tail -c "$6" -- "$f.stderr" 2>/dev/null
  fi;;
esac
s record; exec cat -- "$f"
