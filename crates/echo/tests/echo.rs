//! Integration tests for echo-server and echo-client: real sockets on
//! loopback, in-process servers from the library, and the built binaries
//! for the command-line contracts.

mod util;

use std::io::{BufRead, BufReader};
use std::time::Duration;

use netkit_echo::server::Mode;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UdpSocket;
use util::*;

// ---------------------------------------------------------------- raw echo

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn echoes_random_binary_byte_exact_from_1_byte_to_8_mib() {
    let server = start(config()).await;
    for size in [1, 2, 100, 4096, 65_535, 65_536, 1 << 20, 8 << 20] {
        let data = random_bytes(size);
        let mut stream = connect(server.addr).await;
        if size <= 64 * 1024 {
            // Small enough for the socket buffers: write it all, then read.
            stream.write_all(&data).await.unwrap();
            stream.shutdown().await.unwrap();
            let back = read_to_eof(&mut stream).await;
            assert_eq!(back.len(), size, "size {size}");
            assert!(back == data, "size {size}: bytes differ");
        } else {
            // Larger: write everything (then FIN) while a reader collects.
            let (mut rd, mut wr) = stream.into_split();
            let to_send = data.clone();
            let writer = tokio::spawn(async move {
                wr.write_all(&to_send).await.unwrap();
                wr.shutdown().await.unwrap();
                wr
            });
            let mut back = Vec::with_capacity(size);
            rd.read_to_end(&mut back).await.unwrap();
            let _wr = writer.await.unwrap();
            assert_eq!(back.len(), size, "size {size}");
            assert!(back == data, "size {size}: bytes differ");
        }
    }
    let stats = server.stop().await;
    let total: u64 = [1u64, 2, 100, 4096, 65_535, 65_536, 1 << 20, 8 << 20]
        .iter()
        .sum();
    assert_eq!(stats.bytes_in, total);
    assert_eq!(stats.bytes_out, total);
    assert_eq!(stats.total, 8);
    assert_eq!(stats.open, 0);
}

#[tokio::test]
async fn many_small_writes_come_back_in_order() {
    let server = start(config()).await;
    let mut stream = connect(server.addr).await;
    for i in 0..200u32 {
        let msg = i.to_be_bytes();
        assert_eq!(roundtrip(&mut stream, &msg).await, msg);
    }
    server.stop().await;
}

// --------------------------------------------------------------- half-close

#[tokio::test]
async fn client_fin_gets_every_byte_then_server_fin() {
    let server = start(config()).await;
    let data = random_bytes(48 * 1024);
    let mut stream = connect(server.addr).await;
    stream.write_all(&data).await.unwrap();
    // Client half-closes: the server must still write everything back.
    stream.shutdown().await.unwrap();
    let back = read_to_eof(&mut stream).await;
    assert!(back == data);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_keeps_writing_after_client_fin_under_backpressure() {
    let server = start(config()).await;
    let data = random_bytes(4 << 20);
    let stream = connect(server.addr).await;
    let (mut rd, mut wr) = stream.into_split();
    let to_send = data.clone();
    let writer = tokio::spawn(async move {
        wr.write_all(&to_send).await.unwrap();
        wr.shutdown().await.unwrap();
        wr
    });
    // Do not read for a while: the server is blocked writing, must not drop.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut back = Vec::new();
    rd.read_to_end(&mut back).await.unwrap();
    let _wr = writer.await.unwrap();
    assert_eq!(back.len(), data.len());
    assert!(back == data);
    server.stop().await;
}

#[tokio::test]
async fn server_side_close_is_a_clean_fin_seen_by_the_client() {
    let server = start(config()).await;
    let mut stream = connect(server.addr).await;
    assert_eq!(roundtrip(&mut stream, b"abc").await, b"abc");
    stream.shutdown().await.unwrap();
    // EOF (not a reset), and the server counts the connection closed.
    let mut rest = Vec::new();
    let n = stream.read_to_end(&mut rest).await.unwrap();
    assert_eq!(n, 0);
    let stats = server.stop().await;
    assert_eq!(stats.open, 0);
    assert_eq!(stats.errors, 0);
}

// --------------------------------------------------------------- line mode

#[tokio::test]
async fn line_mode_echoes_whole_lines_and_a_final_partial_line() {
    let mut cfg = config();
    cfg.mode = Mode::Line;
    let server = start(cfg).await;
    let mut stream = connect(server.addr).await;
    // Split a line across writes: nothing comes back until the newline.
    stream.write_all(b"hel").await.unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    stream.write_all(b"lo\nwor").await.unwrap();
    let mut line = vec![0u8; 6];
    stream.read_exact(&mut line).await.unwrap();
    assert_eq!(line, b"hello\n");
    stream.write_all(b"ld\nno newline").await.unwrap();
    stream.shutdown().await.unwrap();
    let rest = read_to_eof(&mut stream).await;
    assert_eq!(rest, b"world\nno newline");
    server.stop().await;
}

#[tokio::test]
async fn line_mode_rejects_a_too_long_line_and_closes() {
    let mut cfg = config();
    cfg.mode = Mode::Line;
    cfg.max_line = 1024;
    let server = start(cfg).await;

    // Exactly max_line bytes (plus newline) is fine.
    let mut ok = connect(server.addr).await;
    let mut line = vec![b'x'; 1024];
    line.push(b'\n');
    assert_eq!(roundtrip(&mut ok, &line).await, line);

    // One byte more is not: an error line, then EOF.
    let mut bad = connect(server.addr).await;
    bad.write_all(b"short\n").await.unwrap();
    bad.write_all(&vec![b'y'; 1025]).await.unwrap();
    let mut got = Vec::new();
    let _ = bad.read_to_end(&mut got).await;
    let text = String::from_utf8_lossy(&got);
    assert!(text.starts_with("short\n"), "{text:?}");
    assert!(
        text.ends_with("error: line longer than 1024 bytes\n"),
        "{text:?}"
    );
    let stats = server.stop().await;
    assert_eq!(stats.errors, 1);
}

// ------------------------------------------------------------ idle timeout

#[tokio::test(start_paused = true)]
async fn idle_connections_are_closed_and_active_ones_are_not() {
    let mut cfg = config();
    cfg.idle_timeout = Some(Duration::from_secs(30));
    let server = start(cfg).await;
    let mut idle = connect(server.addr).await;
    let mut active = connect(server.addr).await;
    let started = tokio::time::Instant::now();
    // Active: a byte every 10 s (virtual time) for 60 s.
    for _ in 0..6 {
        tokio::time::sleep(Duration::from_secs(10)).await;
        assert_eq!(roundtrip(&mut active, b"!").await, b"!");
    }
    // The idle one was closed (EOF) after about 30 s of virtual time.
    let mut buf = [0u8; 1];
    let n = idle.read(&mut buf).await.unwrap();
    assert_eq!(n, 0);
    assert!(started.elapsed() >= Duration::from_secs(30));
    // And the active one is still served.
    assert_eq!(roundtrip(&mut active, b"?").await, b"?");
    server.stop().await;
}

// --------------------------------------------------------- max connections

#[tokio::test]
async fn max_connections_holds_extra_clients_in_the_backlog() {
    let mut cfg = config();
    cfg.max_connections = Some(2);
    let server = start(cfg).await;
    let mut a = connect(server.addr).await;
    let mut b = connect(server.addr).await;
    assert_eq!(roundtrip(&mut a, b"a").await, b"a");
    assert_eq!(roundtrip(&mut b, b"b").await, b"b");
    // The third connects (kernel backlog) but is not served yet.
    let mut c = connect(server.addr).await;
    c.write_all(b"c").await.unwrap();
    let mut buf = [0u8; 1];
    let early = tokio::time::timeout(Duration::from_millis(300), c.read_exact(&mut buf)).await;
    assert!(early.is_err(), "third client served while two were open");
    assert_eq!(server.stats.snapshot().open, 2);
    // Closing one lets the third in; its early byte is echoed.
    drop(a);
    tokio::time::timeout(Duration::from_secs(5), c.read_exact(&mut buf))
        .await
        .expect("third client served after a slot freed")
        .unwrap();
    assert_eq!(&buf, b"c");
    assert!(server.stats.snapshot().open <= 2);
    server.stop().await;
}

// ------------------------------------------------------- graceful shutdown

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_echoes_every_byte_sent_before_the_signal() {
    let server = start(config()).await;
    let data = random_bytes(256 * 1024);
    let mut busy = connect(server.addr).await;
    let mut idle = connect(server.addr).await;
    assert_eq!(roundtrip(&mut idle, b"hi").await, b"hi");
    // Write everything, read nothing yet, then signal.
    busy.write_all(&data).await.unwrap();
    server.shutdown.cancel();
    // New connections are refused once the listener closed.
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(tokio::net::TcpStream::connect(server.addr).await.is_err());
    busy.shutdown().await.unwrap();
    let back = read_to_eof(&mut busy).await;
    assert_eq!(back.len(), data.len());
    assert!(back == data);
    // The idle client is closed cleanly (EOF) without waiting for the grace.
    let mut rest = Vec::new();
    assert_eq!(idle.read_to_end(&mut rest).await.unwrap(), 0);
    let stats = tokio::time::timeout(Duration::from_secs(4), server.task)
        .await
        .expect("server stopped before the 5 s grace")
        .unwrap()
        .unwrap();
    assert_eq!(stats.open, 0);
    assert_eq!(stats.errors, 0);
    assert_eq!(stats.bytes_out, data.len() as u64 + 2);
}

#[tokio::test(start_paused = true)]
async fn grace_period_ends_busy_connections_by_force() {
    let mut cfg = config();
    cfg.grace = Duration::from_secs(2);
    let server = start(cfg).await;
    let mut chatty = connect(server.addr).await;
    assert_eq!(roundtrip(&mut chatty, b"x").await, b"x");
    server.shutdown.cancel();
    // Keep talking every 100 ms: the connection never goes quiet.
    let talker = tokio::spawn(async move {
        for _ in 0..100 {
            tokio::time::sleep(Duration::from_millis(100)).await;
            if chatty.write_all(b"y").await.is_err() {
                return;
            }
            let mut b = [0u8; 1];
            if chatty.read_exact(&mut b).await.is_err() {
                return;
            }
        }
        panic!("connection outlived the grace period");
    });
    let stats = server.task.await.unwrap().unwrap();
    talker.await.unwrap();
    assert_eq!(stats.open, 0);
    assert_eq!(stats.errors, 1, "one connection closed by force");
}

// ---------------------------------------------------------------------- UDP

#[tokio::test]
async fn udp_datagrams_are_echoed_on_the_same_port() {
    let mut cfg = config();
    cfg.udp = true;
    let server = start(cfg).await;
    assert_eq!(server.udp, Some(server.addr));
    let sock = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    sock.connect(server.addr).await.unwrap();
    let mut buf = vec![0u8; 65_536];
    for size in [1, 64, 1400, 8192, 60_000] {
        let data = random_bytes(size);
        sock.send(&data).await.unwrap();
        let n = tokio::time::timeout(Duration::from_secs(5), sock.recv(&mut buf))
            .await
            .expect("udp echo")
            .unwrap();
        assert_eq!(&buf[..n], &data[..]);
    }
    let stats = server.stop().await;
    assert_eq!(stats.udp_datagrams, 5);
}

// --------------------------------------------------------------- slowloris

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slowloris_client_does_not_stall_others() {
    let server = start(config()).await;
    let addr = server.addr;
    let slow = tokio::spawn(async move {
        let mut s = connect(addr).await;
        for b in b"slow" {
            s.write_all(&[*b]).await.unwrap();
            let mut back = [0u8; 1];
            s.read_exact(&mut back).await.unwrap();
            assert_eq!(back[0], *b);
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    });
    // Meanwhile 20 clients do 100 round trips each; they must all be done
    // while the slow client is still dribbling.
    let mut fast = Vec::new();
    for i in 0..20u8 {
        fast.push(tokio::spawn(async move {
            let mut s = connect(addr).await;
            for j in 0..100u8 {
                let msg = [i, j, b'\n'];
                assert_eq!(roundtrip(&mut s, &msg).await, msg);
            }
        }));
    }
    for f in fast {
        f.await.unwrap();
    }
    assert!(
        !slow.is_finished(),
        "fast clients were held up by the slow one"
    );
    slow.await.unwrap();
    server.stop().await;
}

// ------------------------------------------------------------ 1,000 clients

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serves_1000_concurrent_connections() {
    let server = start(config()).await;
    let addr = server.addr;
    let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(1000));
    let mut tasks = Vec::new();
    for i in 0..1000u32 {
        let barrier = barrier.clone();
        tasks.push(tokio::spawn(async move {
            let mut s = connect(addr).await;
            // Everyone is connected at the same time before talking.
            barrier.wait().await;
            let msg = format!("client {i}\n").into_bytes();
            assert_eq!(roundtrip(&mut s, &msg).await, msg);
            s
        }));
    }
    let mut streams = Vec::new();
    for t in tasks {
        streams.push(t.await.unwrap());
    }
    assert_eq!(server.stats.snapshot().open, 1000);
    drop(streams);
    let stats = server.stop().await;
    assert_eq!(stats.total, 1000);
}

// ----------------------------------------------- binaries: CLI contracts

#[test]
fn server_prints_listening_line_and_exits_0_on_sigint_with_final_stats() {
    let mut server = ServerProcess::start(&["--udp"]);
    assert!(server.first_line.starts_with("listening on 127.0.0.1:"));
    let mut udp_line = String::new();
    std::io::BufRead::read_line(&mut server.stdout, &mut udp_line).unwrap();
    assert_eq!(udp_line.trim(), format!("udp listening on {}", server.addr));
    let out = client(&[&server.addr.to_string(), "ping"]);
    assert_eq!(out.status.code(), Some(0));
    server.signal("INT");
    let (code, rest, _err) = server.wait(Duration::from_secs(10));
    assert_eq!(code, Some(0));
    let last = rest.lines().last().unwrap_or_default();
    assert!(
        last.starts_with("final stats: open=0 total=1 bytes_in=5 bytes_out=5"),
        "{rest:?}"
    );
}

#[test]
fn server_warns_about_udp_reflection_on_non_loopback_addresses() {
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_echo-server"))
        .args(["--listen", "0.0.0.0:0", "--udp"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    std::io::BufRead::read_line(&mut stdout, &mut line).unwrap();
    assert!(line.starts_with("listening on 0.0.0.0:"));
    let _ = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("reflection"), "{err}");
}

#[test]
fn server_bind_failure_exits_3() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_echo-server"))
        .args(["--listen", &addr])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot listen"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn out_of_file_descriptors_backs_off_and_keeps_serving() {
    // With 64 descriptors (some inherited) the server holds fewer than 64
    // connections; the rest wait in the backlog while accept fails with
    // EMFILE.
    let mut server = ServerProcess::start_with_fd_limit(64, &[]);
    let step = Duration::from_secs(5);
    let mut clients = Vec::new();
    for _ in 0..128 {
        clients.push(connect(server.addr).await);
    }
    // The first connection is served although accept keeps failing.
    let first = clients.first_mut().unwrap();
    let back = tokio::time::timeout(step, roundtrip(first, b"still alive"))
        .await
        .expect("an accepted connection is served during EMFILE");
    assert_eq!(back, b"still alive");
    // Free the early connections: the backlogged ones get accepted after
    // the back-off and are echoed.
    let mut late = clients.split_off(64);
    drop(clients);
    for stream in late.iter_mut().take(3) {
        let back = tokio::time::timeout(step, roundtrip(stream, b"late"))
            .await
            .expect("a backlogged connection is served once descriptors free up");
        assert_eq!(back, b"late");
    }
    drop(late);
    server.signal("INT");
    let (code, _, stderr) = server.wait(Duration::from_secs(10));
    assert_eq!(code, Some(0), "{stderr}");
    assert!(
        stderr.contains("accept failed") && stderr.contains("Too many open files"),
        "EMFILE is logged: {stderr}"
    );
}

#[test]
fn one_shot_prints_the_echo_and_exits_0() {
    let server = ServerProcess::start(&[]);
    let out = client(&[&server.addr.to_string(), "hello", "world"]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(out.stdout, b"hello world\n");
}

#[test]
fn one_shot_exit_codes_for_refused_timeout_and_mismatch() {
    // Refused: nothing listens on a just-freed port.
    let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = free.local_addr().unwrap().to_string();
    drop(free);
    let out = client(&[&addr, "x"]);
    assert_eq!(out.status.code(), Some(3), "{out:?}");

    // Timeout: a peer that accepts and never answers.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = silent.local_addr().unwrap().to_string();
    let out = client(&["--timeout", "300ms", &addr, "x"]);
    assert_eq!(out.status.code(), Some(4), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("no complete reply"));

    // Mismatch: a peer that answers with other bytes.
    let liar = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = liar.local_addr().unwrap().to_string();
    let peer = std::thread::spawn(move || {
        use std::io::{Read, Write};
        let (mut s, _) = liar.accept().unwrap();
        let mut buf = [0u8; 6];
        s.read_exact(&mut buf).unwrap();
        s.write_all(b"HELLO\n").unwrap();
    });
    let out = client(&[&addr, "hello"]);
    peer.join().unwrap();
    assert_eq!(out.status.code(), Some(5), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("differs"));
}

#[test]
fn interactive_mode_echoes_stdin_lines_from_a_pipe() {
    let server = ServerProcess::start(&["--mode", "line"]);
    let out = client_with_stdin(&[&server.addr.to_string()], b"one\ntwo\nthree");
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert_eq!(out.stdout, b"one\ntwo\nthree\n");
}

#[test]
fn bench_json_has_the_documented_fields_and_exits_0() {
    let server = ServerProcess::start(&[]);
    let out = client(&[
        "bench",
        &server.addr.to_string(),
        "--connections",
        "4",
        "--duration",
        "500ms",
        "--warmup",
        "100ms",
        "--pipeline",
        "4",
        "--json",
    ]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    for field in ["msgs_per_sec", "bytes_per_sec", "errors", "mismatches"] {
        assert!(v.get(field).is_some(), "missing {field}: {v}");
    }
    for field in ["p50", "p90", "p99", "p999", "max"] {
        assert!(
            v["latency_us"].get(field).is_some(),
            "missing latency_us.{field}"
        );
    }
    assert!(v["msgs_per_sec"].as_f64().unwrap() > 0.0);
    assert_eq!(v["errors"], 0);
    assert_eq!(v["mismatches"], 0);
    assert!(v["latency_us"]["p50"].as_u64().unwrap() <= v["latency_us"]["max"].as_u64().unwrap());
}

#[test]
fn bench_over_udp_and_open_loop_verify_and_exit_0() {
    let server = ServerProcess::start(&["--udp"]);
    let addr = server.addr.to_string();
    let out = client(&[
        "bench", &addr, "-c", "2", "-d", "500ms", "-w", "0", "--udp", "--json",
    ]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["transport"], "udp");
    assert!(v["msgs"].as_u64().unwrap() > 0);

    let out = client(&[
        "bench", &addr, "-c", "2", "-d", "1s", "-w", "0", "--rate", "200", "--json",
    ]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let rate = v["msgs_per_sec"].as_f64().unwrap();
    assert!(
        (150.0..=250.0).contains(&rate),
        "open loop at 200/s gave {rate}"
    );
}

#[test]
fn bench_reports_mismatches_and_exits_5() {
    // A peer that echoes with one bit flipped in every 100th byte.
    let liar = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = liar.local_addr().unwrap().to_string();
    std::thread::spawn(move || {
        use std::io::{Read, Write};
        let (mut s, _) = liar.accept().unwrap();
        let mut buf = [0u8; 4096];
        let mut count = 0u64;
        while let Ok(n) = s.read(&mut buf) {
            if n == 0 {
                break;
            }
            for b in &mut buf[..n] {
                count += 1;
                if count.is_multiple_of(100) {
                    *b ^= 1;
                }
            }
            if s.write_all(&buf[..n]).is_err() {
                break;
            }
        }
    });
    let out = client(&[
        "bench", &addr, "-c", "1", "-d", "300ms", "-w", "0", "--json",
    ]);
    assert_eq!(out.status.code(), Some(5), "{out:?}");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(v["mismatches"].as_u64().unwrap() > 0);
}

#[test]
fn bench_counts_failed_connections_and_exits_6() {
    // A peer that accepts and closes at once.
    let rude = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = rude.local_addr().unwrap().to_string();
    std::thread::spawn(move || {
        for _ in 0..2 {
            if let Ok((s, _)) = rude.accept() {
                drop(s);
            }
        }
    });
    let out = client(&[
        "bench", &addr, "-c", "2", "-d", "300ms", "-w", "0", "--json",
    ]);
    assert_eq!(out.status.code(), Some(6), "{out:?}");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["errors"], 2);
}

// ------------------------------------ descriptor limits and load options

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bench_refuses_more_connections_than_descriptors_before_connecting() {
    let server = start(config()).await;
    let addr = server.addr.to_string();
    // Soft = hard = 256: nothing to raise, so 1,000 connections cannot fit.
    let out = tokio::task::spawn_blocking(move || {
        client_with_ulimit(
            "-n 256",
            &["bench", &addr, "-c", "1000", "-d", "1s", "--json"],
        )
    })
    .await
    .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("--connections 1000 needs 1000 file descriptors")
            && stderr.contains("soft 256 / hard 256")
            && stderr.contains("use at most"),
        "{stderr}"
    );
    assert!(out.stdout.is_empty(), "no report for a refused run");
    // Refused before anything connected.
    assert_eq!(server.stop().await.total, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bench_raises_a_low_soft_limit_to_the_hard_one() {
    let server = start(config()).await;
    let addr = server.addr.to_string();
    let hard = own_hard_fd_limit();
    // Only the soft limit is lowered; the client raises it again and opens
    // four times as many connections as the soft limit would allow.
    let out = tokio::task::spawn_blocking(move || {
        client_with_ulimit(
            "-Sn 256",
            &[
                "bench", &addr, "-c", "1000", "-d", "300ms", "-w", "0", "--json",
            ],
        )
    })
    .await
    .unwrap();
    if hard < 1000 + 100 {
        assert_eq!(out.status.code(), Some(2), "{out:?}");
        return;
    }
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["connections"], 1000);
    assert_eq!(v["errors"], 0);
    let stats = server.stop().await;
    assert_eq!(stats.total, 1000);
}

#[test]
fn server_raises_its_soft_limit_and_refuses_max_connections_that_cannot_fit() {
    let hard = own_hard_fd_limit();
    let mut raised = server_with_ulimit("-Sn 128", &[]);
    let mut first = String::new();
    BufReader::new(raised.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    assert!(first.starts_with("listening on "), "{first:?}");
    assert_eq!(open_file_limits(raised.id()), (hard, hard));
    raised.kill().unwrap();
    raised.wait().unwrap();

    let refused = server_with_ulimit("-n 128", &["--max-connections", "1000"]);
    let out = refused.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("--max-connections 1000 needs 1000 file descriptors")
            && stderr.contains("use at most"),
        "{stderr}"
    );
    assert!(out.stdout.is_empty(), "refused before listening: {out:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn source_spreads_connections_over_several_addresses_as_ss_shows() {
    let server = start(config()).await;
    let port = server.addr.port();
    let addr = server.addr.to_string();
    let bench = tokio::task::spawn_blocking(move || {
        client(&[
            "bench",
            &addr,
            "-c",
            "12",
            "-d",
            "3s",
            "-w",
            "0",
            "--message-rate",
            "20",
            "--source",
            "127.0.0.2-127.0.0.4",
            "--json",
        ])
    });
    // While the bench runs, the kernel's socket table shows where the
    // server's 12 connections come from.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let peers = loop {
        let peers = ss_peers_of_port(port);
        if peers.values().sum::<usize>() == 12 {
            break peers;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "12 connections never showed in ss: {peers:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let expected: std::collections::BTreeMap<String, usize> =
        ["127.0.0.2", "127.0.0.3", "127.0.0.4"]
            .into_iter()
            .map(|ip| (ip.to_string(), 4))
            .collect();
    assert_eq!(peers, expected);
    let out = bench.await.unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["source_addrs"], 3);
    assert_eq!(v["errors"], 0);
    server.stop().await;
}

#[test]
fn source_of_the_wrong_family_or_a_bad_range_is_a_usage_error() {
    for source in ["::1", "127.0.0.9-127.0.0.2", "nowhere"] {
        let out = client(&["bench", "127.0.0.1:9", "--source", source, "-d", "1s"]);
        assert_eq!(out.status.code(), Some(2), "{source}: {out:?}");
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("--source"),
            "{source}: {out:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn message_rate_is_honoured_and_every_byte_sent_comes_back() {
    let server = start(config()).await;
    let addr = server.addr.to_string();
    let out = tokio::task::spawn_blocking(move || {
        client(&[
            "bench",
            &addr,
            "-c",
            "5",
            "-d",
            "1s",
            "-w",
            "0",
            "--message-rate",
            "20",
            "--connect-rate",
            "100",
            "--json",
        ])
    })
    .await
    .unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["message_rate"], 20.0);
    assert_eq!(v["rate"], 100.0);
    assert_eq!(v["connect_rate"], 100.0);
    // Connections open 10 ms apart at 100/s: the fifth 40 ms after the first.
    assert!(v["ramp_ms"].as_f64().unwrap() >= 39.0, "{v}");
    // The open-loop schedule holds at most 20 messages per connection in
    // one second; a closed loop would have sent thousands.
    let sent = v["sent"].as_u64().unwrap();
    assert!(sent > 0 && sent <= 5 * 20, "sent {sent}");
    assert_eq!(v["mismatches"], 0);
    assert_eq!(v["errors"], 0);
    // The server saw exactly those messages, and echoed every byte.
    let stats = wait_for_stats(&server.stats, "the 5 connections to close", |s| {
        s.total == 5 && s.open == 0
    })
    .await;
    assert_eq!(stats.bytes_in, sent * 64);
    assert_eq!(stats.bytes_out, sent * 64);
    server.stop().await;
}

#[test]
fn rate_and_message_rate_together_are_refused() {
    let out = client(&["bench", "127.0.0.1:9", "-r", "100", "--message-rate", "1"]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot be used with"));
}

#[test]
fn pipelined_messages_go_out_in_one_write_per_free_window() {
    // A peer that records the size of its first read, then echoes.
    let peer = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = peer.local_addr().unwrap().to_string();
    let first_read = std::thread::spawn(move || {
        use std::io::{Read, Write};
        let (mut s, _) = peer.accept().unwrap();
        let mut buf = vec![0u8; 64 * 1024];
        let mut first = None;
        while let Ok(n) = s.read(&mut buf) {
            if n == 0 {
                break;
            }
            first.get_or_insert(n);
            if s.write_all(&buf[..n]).is_err() {
                break;
            }
        }
        first
    });
    let out = client(&[
        "bench", &addr, "-c", "1", "-p", "16", "-d", "300ms", "-w", "0", "--json",
    ]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    // The whole window of 16 messages of 64 B was one write, one segment.
    assert_eq!(first_read.join().unwrap(), Some(16 * 64));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["mismatches"], 0);
    assert!(v["msgs"].as_u64().unwrap() > 0);
}

/// `echo-client ADDR < lines | head -1`: once stdout's reader is gone, the
/// client stops quietly with exit 0 (an I/O error on the socket would still
/// be one).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interactive_client_with_a_closed_stdout_ends_quietly_with_0() {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let server = start(config()).await;
    let addr = server.addr.to_string();
    let outcome = tokio::task::spawn_blocking(move || {
        let mut child = Command::new(env!("CARGO_BIN_EXE_echo-client"))
            .arg(&addr)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // 1,000 lines of 200 bytes: more than a pipe holds either way.
        let mut stdin = child.stdin.take().unwrap();
        let writer = std::thread::spawn(move || {
            let line = format!("{}\n", "x".repeat(199));
            for _ in 0..1000 {
                if stdin.write_all(line.as_bytes()).is_err() {
                    break;
                }
            }
        });
        let mut first = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut first)
            .unwrap();
        // The reader is dropped here: the next echo written gets EPIPE.
        let out = child.wait_with_output().unwrap();
        writer.join().unwrap();
        (first, out)
    });
    let (first, out) = tokio::time::timeout(Duration::from_secs(30), outcome)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(first.len(), 200);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stderr), "");
}
