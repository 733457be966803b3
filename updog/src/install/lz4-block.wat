;; LZ4 block decoder (https://github.com/lz4/lz4/blob/dev/doc/lz4_Block_format.md) in WebAssembly.
;; The bytes embedded in lz4-block-wasm.ts are this file compiled: after editing it, run
;; `node updog/src/install/lz4-block-wasm.build.mjs` (a unit test checks that the two match).
;;
;; decode(src, srcEnd, base, out, outEnd) decodes the block at [src, srcEnd) into memory at `out`
;; and returns the end of the output, or a negative error code (named in lz4-block.ts). Matches
;; may reach back to `base` (linked blocks find the previous output in [base, out)), not before.
;;
;; xxh32_reset/xxh32_update/xxh32_digest compute the frame's content checksum (xxHash32,
;; https://github.com/Cyan4973/xxHash/blob/dev/doc/xxhash_spec.md) over output where it lies, with
;; the state in globals and up to 15 pending bytes at `tail` (16 bytes the caller reserves).
;;
;; Speed comes from "wild" copies, as in the reference decoder: short literal runs and matches
;; are copied 32 bytes at a time even when shorter, so the caller leaves 64 writable bytes after
;; `outEnd` and 64 readable bytes after `srcEnd`. Bytes past the returned end are junk.
(module
  (import "env" "memory" (memory 1))
  (func (export "decode")
    (param $s i32) (param $srcEnd i32) (param $base i32) (param $o i32) (param $outEnd i32)
    (result i32)
    (local $token i32) (local $len i32) (local $b i32) (local $off i32) (local $from i32) (local $end i32)
    (loop $sequence
      (if (i32.ge_u (local.get $s) (local.get $srcEnd)) (then (return (i32.const -1))))
      (local.set $token (i32.load8_u (local.get $s)))
      (local.set $s (i32.add (local.get $s) (i32.const 1)))
      ;; literal length: 4 bits; 15 means more bytes follow, up to one that is not 255
      (local.set $len (i32.shr_u (local.get $token) (i32.const 4)))
      (if (i32.eq (local.get $len) (i32.const 15))
        (then
          (loop $more
            (if (i32.ge_u (local.get $s) (local.get $srcEnd)) (then (return (i32.const -2))))
            (local.set $b (i32.load8_u (local.get $s)))
            (local.set $s (i32.add (local.get $s) (i32.const 1)))
            (local.set $len (i32.add (local.get $len) (local.get $b)))
            (br_if $more (i32.eq (local.get $b) (i32.const 255))))))
      (if (local.get $len)
        (then
          (if (i32.gt_u (local.get $len) (i32.sub (local.get $srcEnd) (local.get $s))) (then (return (i32.const -3))))
          (if (i32.gt_u (local.get $len) (i32.sub (local.get $outEnd) (local.get $o))) (then (return (i32.const -4))))
          (if (i32.le_u (local.get $len) (i32.const 32))
            (then
              (v128.store (local.get $o) (v128.load (local.get $s)))
              (v128.store offset=16 (local.get $o) (v128.load offset=16 (local.get $s))))
            (else (memory.copy (local.get $o) (local.get $s) (local.get $len))))
          (local.set $s (i32.add (local.get $s) (local.get $len)))
          (local.set $o (i32.add (local.get $o) (local.get $len)))))
      ;; the last sequence has literals only
      (if (i32.eq (local.get $s) (local.get $srcEnd)) (then (return (local.get $o))))
      (if (i32.lt_u (i32.sub (local.get $srcEnd) (local.get $s)) (i32.const 2)) (then (return (i32.const -5))))
      (local.set $off (i32.load16_u (local.get $s)))
      (local.set $s (i32.add (local.get $s) (i32.const 2)))
      (if (i32.eqz (local.get $off)) (then (return (i32.const -6))))
      (local.set $len (i32.and (local.get $token) (i32.const 15)))
      (if (i32.eq (local.get $len) (i32.const 15))
        (then
          (loop $more
            (if (i32.ge_u (local.get $s) (local.get $srcEnd)) (then (return (i32.const -7))))
            (local.set $b (i32.load8_u (local.get $s)))
            (local.set $s (i32.add (local.get $s) (i32.const 1)))
            (local.set $len (i32.add (local.get $len) (local.get $b)))
            (br_if $more (i32.eq (local.get $b) (i32.const 255))))))
      (local.set $len (i32.add (local.get $len) (i32.const 4)))
      (if (i32.gt_u (local.get $off) (i32.sub (local.get $o) (local.get $base))) (then (return (i32.const -8))))
      (if (i32.gt_u (local.get $len) (i32.sub (local.get $outEnd) (local.get $o))) (then (return (i32.const -4))))
      (local.set $from (i32.sub (local.get $o) (local.get $off)))
      (local.set $end (i32.add (local.get $o) (local.get $len)))
      (if (i32.ge_u (local.get $off) (i32.const 16))
        (then
          ;; 16 bytes apart or more: each 16-byte load reads only bytes already final
          (if (i32.le_u (local.get $len) (i32.const 32))
            (then
              (v128.store (local.get $o) (v128.load (local.get $from)))
              (v128.store offset=16 (local.get $o) (v128.load offset=16 (local.get $from))))
            (else
              (if (i32.ge_u (local.get $off) (local.get $len))
                (then (memory.copy (local.get $o) (local.get $from) (local.get $len)))
                (else
                  (loop $chunk
                    (v128.store (local.get $o) (v128.load (local.get $from)))
                    (local.set $o (i32.add (local.get $o) (i32.const 16)))
                    (local.set $from (i32.add (local.get $from) (i32.const 16)))
                    (br_if $chunk (i32.lt_u (local.get $o) (local.get $end)))))))))
        (else
          ;; a pattern shorter than 16 bytes that the match repeats: a forward byte copy for
          ;; short matches; long ones double the stretch already written with each block copy
          (if (i32.le_u (local.get $len) (i32.const 32))
            (then
              (loop $byte
                (i32.store8 (local.get $o) (i32.load8_u (local.get $from)))
                (local.set $o (i32.add (local.get $o) (i32.const 1)))
                (local.set $from (i32.add (local.get $from) (i32.const 1)))
                (br_if $byte (i32.lt_u (local.get $o) (local.get $end)))))
            (else
              (loop $double
                (local.set $b (i32.sub (local.get $o) (local.get $from)))
                (if (i32.gt_u (local.get $b) (i32.sub (local.get $end) (local.get $o)))
                  (then (local.set $b (i32.sub (local.get $end) (local.get $o)))))
                (memory.copy (local.get $o) (local.get $from) (local.get $b))
                (local.set $o (i32.add (local.get $o) (local.get $b)))
                (br_if $double (i32.lt_u (local.get $o) (local.get $end))))))))
      (local.set $o (local.get $end))
      (br $sequence))
    (unreachable))

  (global $v1 (mut i32) (i32.const 0))
  (global $v2 (mut i32) (i32.const 0))
  (global $v3 (mut i32) (i32.const 0))
  (global $v4 (mut i32) (i32.const 0))
  (global $seed (mut i32) (i32.const 0))
  (global $total (mut i32) (i32.const 0)) ;; input length mod 2^32, as the spec uses it
  (global $large (mut i32) (i32.const 0)) ;; at least one full 16-byte stripe seen
  (global $tailLen (mut i32) (i32.const 0))

  ;; One 16-byte stripe into the four accumulators (the globals), read from $p; the hot path
  ;; in xxh32_update repeats this with locals, as V8 does not inline wasm calls.
  (func $stripe (param $p i32)
    (global.set $v1 (i32.mul (i32.rotl (i32.add (global.get $v1) (i32.mul (i32.load (local.get $p)) (i32.const 0x85EBCA77))) (i32.const 13)) (i32.const 0x9E3779B1)))
    (global.set $v2 (i32.mul (i32.rotl (i32.add (global.get $v2) (i32.mul (i32.load offset=4 (local.get $p)) (i32.const 0x85EBCA77))) (i32.const 13)) (i32.const 0x9E3779B1)))
    (global.set $v3 (i32.mul (i32.rotl (i32.add (global.get $v3) (i32.mul (i32.load offset=8 (local.get $p)) (i32.const 0x85EBCA77))) (i32.const 13)) (i32.const 0x9E3779B1)))
    (global.set $v4 (i32.mul (i32.rotl (i32.add (global.get $v4) (i32.mul (i32.load offset=12 (local.get $p)) (i32.const 0x85EBCA77))) (i32.const 13)) (i32.const 0x9E3779B1))))

  (func (export "xxh32_reset") (param $s i32)
    (global.set $seed (local.get $s))
    (global.set $v1 (i32.add (local.get $s) (i32.const 0x24234428))) ;; seed + PRIME1 + PRIME2
    (global.set $v2 (i32.add (local.get $s) (i32.const 0x85EBCA77)))
    (global.set $v3 (local.get $s))
    (global.set $v4 (i32.sub (local.get $s) (i32.const 0x9E3779B1)))
    (global.set $total (i32.const 0))
    (global.set $large (i32.const 0))
    (global.set $tailLen (i32.const 0)))

  (func (export "xxh32_update") (param $p i32) (param $len i32) (param $tail i32)
    (local $end i32) (local $n i32) (local $a i32) (local $b i32) (local $c i32) (local $d i32)
    (global.set $total (i32.add (global.get $total) (local.get $len)))
    (local.set $end (i32.add (local.get $p) (local.get $len)))
    ;; complete the pending stripe first
    (if (global.get $tailLen)
      (then
        (local.set $n (i32.sub (i32.const 16) (global.get $tailLen)))
        (if (i32.gt_u (local.get $n) (local.get $len)) (then (local.set $n (local.get $len))))
        (memory.copy (i32.add (local.get $tail) (global.get $tailLen)) (local.get $p) (local.get $n))
        (global.set $tailLen (i32.add (global.get $tailLen) (local.get $n)))
        (local.set $p (i32.add (local.get $p) (local.get $n)))
        (if (i32.lt_u (global.get $tailLen) (i32.const 16)) (then (return)))
        (call $stripe (local.get $tail))
        (global.set $large (i32.const 1))
        (global.set $tailLen (i32.const 0))))
    (if (i32.ge_u (i32.sub (local.get $end) (local.get $p)) (i32.const 16))
      (then
        (global.set $large (i32.const 1))
        (local.set $a (global.get $v1))
        (local.set $b (global.get $v2))
        (local.set $c (global.get $v3))
        (local.set $d (global.get $v4))
        (loop $stripes
          (local.set $a (i32.mul (i32.rotl (i32.add (local.get $a) (i32.mul (i32.load (local.get $p)) (i32.const 0x85EBCA77))) (i32.const 13)) (i32.const 0x9E3779B1)))
          (local.set $b (i32.mul (i32.rotl (i32.add (local.get $b) (i32.mul (i32.load offset=4 (local.get $p)) (i32.const 0x85EBCA77))) (i32.const 13)) (i32.const 0x9E3779B1)))
          (local.set $c (i32.mul (i32.rotl (i32.add (local.get $c) (i32.mul (i32.load offset=8 (local.get $p)) (i32.const 0x85EBCA77))) (i32.const 13)) (i32.const 0x9E3779B1)))
          (local.set $d (i32.mul (i32.rotl (i32.add (local.get $d) (i32.mul (i32.load offset=12 (local.get $p)) (i32.const 0x85EBCA77))) (i32.const 13)) (i32.const 0x9E3779B1)))
          (local.set $p (i32.add (local.get $p) (i32.const 16)))
          (br_if $stripes (i32.ge_u (i32.sub (local.get $end) (local.get $p)) (i32.const 16))))
        (global.set $v1 (local.get $a))
        (global.set $v2 (local.get $b))
        (global.set $v3 (local.get $c))
        (global.set $v4 (local.get $d))))
    (global.set $tailLen (i32.sub (local.get $end) (local.get $p)))
    (memory.copy (local.get $tail) (local.get $p) (global.get $tailLen)))

  (func (export "xxh32_digest") (param $tail i32) (result i32)
    (local $h i32) (local $p i32) (local $end i32)
    (if (global.get $large)
      (then
        (local.set $h
          (i32.add
            (i32.add (i32.rotl (global.get $v1) (i32.const 1)) (i32.rotl (global.get $v2) (i32.const 7)))
            (i32.add (i32.rotl (global.get $v3) (i32.const 12)) (i32.rotl (global.get $v4) (i32.const 18))))))
      (else (local.set $h (i32.add (global.get $seed) (i32.const 0x165667B1)))))
    (local.set $h (i32.add (local.get $h) (global.get $total)))
    (local.set $p (local.get $tail))
    (local.set $end (i32.add (local.get $tail) (global.get $tailLen)))
    (block $words
      (loop $word
        (br_if $words (i32.lt_u (i32.sub (local.get $end) (local.get $p)) (i32.const 4)))
        (local.set $h
          (i32.mul
            (i32.rotl (i32.add (local.get $h) (i32.mul (i32.load (local.get $p)) (i32.const 0xC2B2AE3D))) (i32.const 17))
            (i32.const 0x27D4EB2F)))
        (local.set $p (i32.add (local.get $p) (i32.const 4)))
        (br $word)))
    (block $bytes
      (loop $byte
        (br_if $bytes (i32.ge_u (local.get $p) (local.get $end)))
        (local.set $h
          (i32.mul
            (i32.rotl (i32.add (local.get $h) (i32.mul (i32.load8_u (local.get $p)) (i32.const 0x165667B1))) (i32.const 11))
            (i32.const 0x9E3779B1)))
        (local.set $p (i32.add (local.get $p) (i32.const 1)))
        (br $byte)))
    (local.set $h (i32.mul (i32.xor (local.get $h) (i32.shr_u (local.get $h) (i32.const 15))) (i32.const 0x85EBCA77)))
    (local.set $h (i32.mul (i32.xor (local.get $h) (i32.shr_u (local.get $h) (i32.const 13))) (i32.const 0xC2B2AE3D)))
    (i32.xor (local.get $h) (i32.shr_u (local.get $h) (i32.const 16)))))
