;; xxh64_pieces(src, len, pieceSize, out): xxHash64 (seed 0, https://github.com/Cyan4973/xxHash/blob/dev/doc/xxhash_spec.md)
;; of each piece of [src, src + len), pieces of `pieceSize` bytes and the last one possibly shorter,
;; stored as u64 at out, out + 8, ... One call hashes a whole chunk of a partition: no call and no
;; allocation per 4 KiB piece, as hashing piece by piece from JavaScript costs.
(module
  (import "env" "memory" (memory 1))
  (func $round (param $acc i64) (param $lane i64) (result i64)
    (i64.mul (i64.rotl (i64.add (local.get $acc) (i64.mul (local.get $lane) (i64.const 0xC2B2AE3D27D4EB4F))) (i64.const 31))
      (i64.const 0x9E3779B185EBCA87)))
  (func $merge (param $acc i64) (param $v i64) (result i64)
    (i64.add (i64.mul (i64.xor (local.get $acc) (call $round (i64.const 0) (local.get $v))) (i64.const 0x9E3779B185EBCA87))
      (i64.const 0x85EBCA77C2B2AE63)))
  (func $xxh64 (param $p i32) (param $len i32) (result i64)
    (local $end i32) (local $h i64) (local $v1 i64) (local $v2 i64) (local $v3 i64) (local $v4 i64)
    (local.set $end (i32.add (local.get $p) (local.get $len)))
    (if (i32.ge_u (local.get $len) (i32.const 32))
      (then
        (local.set $v1 (i64.const 0x60EA27EEADC0B5D6)) ;; PRIME1 + PRIME2
        (local.set $v2 (i64.const 0xC2B2AE3D27D4EB4F)) ;; PRIME2
        (local.set $v3 (i64.const 0))
        (local.set $v4 (i64.const 0x61C8864E7A143579)) ;; -PRIME1
        (loop $stripes
          (local.set $v1 (call $round (local.get $v1) (i64.load (local.get $p))))
          (local.set $v2 (call $round (local.get $v2) (i64.load offset=8 (local.get $p))))
          (local.set $v3 (call $round (local.get $v3) (i64.load offset=16 (local.get $p))))
          (local.set $v4 (call $round (local.get $v4) (i64.load offset=24 (local.get $p))))
          (local.set $p (i32.add (local.get $p) (i32.const 32)))
          (br_if $stripes (i32.le_u (i32.add (local.get $p) (i32.const 32)) (local.get $end))))
        (local.set $h (i64.add (i64.add (i64.rotl (local.get $v1) (i64.const 1)) (i64.rotl (local.get $v2) (i64.const 7)))
          (i64.add (i64.rotl (local.get $v3) (i64.const 12)) (i64.rotl (local.get $v4) (i64.const 18)))))
        (local.set $h (call $merge (local.get $h) (local.get $v1)))
        (local.set $h (call $merge (local.get $h) (local.get $v2)))
        (local.set $h (call $merge (local.get $h) (local.get $v3)))
        (local.set $h (call $merge (local.get $h) (local.get $v4))))
      (else (local.set $h (i64.const 0x27D4EB2F165667C5)))) ;; PRIME5
    (local.set $h (i64.add (local.get $h) (i64.extend_i32_u (local.get $len))))
    (block $eights
      (loop $eight
        (br_if $eights (i32.gt_u (i32.add (local.get $p) (i32.const 8)) (local.get $end)))
        (local.set $h (i64.add (i64.mul (i64.rotl (i64.xor (local.get $h) (call $round (i64.const 0) (i64.load (local.get $p)))) (i64.const 27))
          (i64.const 0x9E3779B185EBCA87)) (i64.const 0x85EBCA77C2B2AE63)))
        (local.set $p (i32.add (local.get $p) (i32.const 8)))
        (br $eight)))
    (if (i32.le_u (i32.add (local.get $p) (i32.const 4)) (local.get $end))
      (then
        (local.set $h (i64.add (i64.mul (i64.rotl (i64.xor (local.get $h) (i64.mul (i64.load32_u (local.get $p)) (i64.const 0x9E3779B185EBCA87)))
          (i64.const 23)) (i64.const 0xC2B2AE3D27D4EB4F)) (i64.const 0x165667B19E3779F9)))
        (local.set $p (i32.add (local.get $p) (i32.const 4)))))
    (block $ones
      (loop $one
        (br_if $ones (i32.ge_u (local.get $p) (local.get $end)))
        (local.set $h (i64.mul (i64.rotl (i64.xor (local.get $h) (i64.mul (i64.load8_u (local.get $p)) (i64.const 0x27D4EB2F165667C5)))
          (i64.const 11)) (i64.const 0x9E3779B185EBCA87)))
        (local.set $p (i32.add (local.get $p) (i32.const 1)))
        (br $one)))
    (local.set $h (i64.mul (i64.xor (local.get $h) (i64.shr_u (local.get $h) (i64.const 33))) (i64.const 0xC2B2AE3D27D4EB4F)))
    (local.set $h (i64.mul (i64.xor (local.get $h) (i64.shr_u (local.get $h) (i64.const 29))) (i64.const 0x165667B19E3779F9)))
    (i64.xor (local.get $h) (i64.shr_u (local.get $h) (i64.const 32))))
  (func (export "xxh64_pieces") (param $src i32) (param $len i32) (param $piece i32) (param $out i32)
    (local $end i32) (local $n i32)
    (local.set $end (i32.add (local.get $src) (local.get $len)))
    (block $done
      (loop $pieces
        (br_if $done (i32.ge_u (local.get $src) (local.get $end)))
        (local.set $n (select (local.get $piece) (i32.sub (local.get $end) (local.get $src))
          (i32.le_u (local.get $piece) (i32.sub (local.get $end) (local.get $src)))))
        (i64.store (local.get $out) (call $xxh64 (local.get $src) (local.get $n)))
        (local.set $out (i32.add (local.get $out) (i32.const 8)))
        (local.set $src (i32.add (local.get $src) (local.get $piece)))
        (br $pieces)))))
