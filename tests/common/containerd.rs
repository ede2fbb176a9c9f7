//! A private containerd for the e2e suites that pull with containerd's own client (`ctr`).

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A private containerd (its own root, state and socket under a temp dir), killed on drop.
pub struct Containerd {
    child: Child,
    socket: String,
}

impl Drop for Containerd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn containerd(dir: &Path) -> Containerd {
    let socket = dir.join("containerd.sock").display().to_string();
    let config = dir.join("config.toml");
    std::fs::write(
        &config,
        format!(
            "version = 2\nroot = \"{root}\"\nstate = \"{state}\"\n\
             disabled_plugins = [\"io.containerd.grpc.v1.cri\"]\n\
             [grpc]\n  address = \"{socket}\"\n[ttrpc]\n  address = \"{socket}.ttrpc\"\n",
            root = dir.join("root").display(),
            state = dir.join("state").display(),
        ),
    )
    .unwrap();
    let log = std::fs::File::create(dir.join("containerd.log")).unwrap();
    let child = Command::new("containerd")
        .arg("--config")
        .arg(&config)
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("containerd (scripts/setup installs it)");
    let started = Instant::now();
    while !Path::new(&socket).exists() {
        assert!(started.elapsed() < Duration::from_secs(20), "containerd did not start: {}", dir.display());
        std::thread::sleep(Duration::from_millis(100));
    }
    Containerd { child, socket }
}

/// Runs `ctr` against `d` in the `pullgate` namespace: (success, stdout+stderr).
pub fn ctr(d: &Containerd, args: &[&str]) -> (bool, String) {
    let out =
        Command::new("ctr").arg("--address").arg(&d.socket).args(["-n", "pullgate"]).args(args).output().expect("ctr");
    (out.status.success(), format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
}
