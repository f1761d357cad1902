//! Real client programs of other languages, installed on first use: the
//! Python ADBC Flight SQL driver and Python's PostgreSQL drivers (each set
//! in a virtualenv of its own), and the Flight SQL JDBC driver and pgjdbc
//! (from Maven Central). Tests fail, never
//! skip, when they cannot be installed.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use anyhow::{bail, Context, Result};
use tokio::sync::OnceCell;

/// The Python packages the PostgreSQL driver tests use, pinned.
const PG_PYTHON_PACKAGES: &[&str] = &[
    "SQLAlchemy==2.1.9",
    "psycopg[binary]==3.3.9",
    "psycopg2-binary==2.9.13",
    "asyncpg==0.32.0",
    // Needs unixODBC and psqlODBC (Debian's odbc-postgresql).
    "pyodbc==5.3.0",
];

/// The Python packages the ADBC tests use, pinned.
const PYTHON_PACKAGES: &[&str] = &[
    "adbc-driver-manager==1.13.0",
    "adbc-driver-flightsql==1.13.0",
    "pyarrow==26.0.1",
];

/// The Flight SQL JDBC driver's Maven coordinates.
const JDBC_DRIVER: &str = "org.apache.arrow:flight-sql-jdbc-driver:18.3.0";

/// PostgreSQL's JDBC driver (pgjdbc), as DBeaver and Metabase use it.
const PG_JDBC_DRIVER: &str = "org.postgresql:postgresql:42.7.14";

fn cache_dir() -> PathBuf {
    PathBuf::from(std::env::var_os("HOME").unwrap_or_else(|| "/tmp".into())).join(".cache/smackql")
}

/// The client programs' directory, `tests/clients`.
pub fn programs() -> PathBuf {
    crate::repo_root().join("tests/clients")
}

/// A Python interpreter with the ADBC Flight SQL driver and pyarrow.
pub async fn python() -> &'static Path {
    static PYTHON: OnceCell<PathBuf> = OnceCell::const_new();
    PYTHON
        .get_or_init(|| virtualenv("venv-flight", PYTHON_PACKAGES))
        .await
}

/// A Python interpreter with SQLAlchemy, psycopg 3, psycopg2, asyncpg and
/// pyodbc.
pub async fn pg_python() -> &'static Path {
    static PYTHON: OnceCell<PathBuf> = OnceCell::const_new();
    PYTHON
        .get_or_init(|| virtualenv("venv-pg", PG_PYTHON_PACKAGES))
        .await
}

async fn virtualenv(name: &'static str, packages: &'static [&'static str]) -> PathBuf {
    tokio::task::spawn_blocking(move || install_python(name, packages))
        .await
        .expect("the virtualenv task panicked")
        .unwrap_or_else(|err| panic!("cannot install the Python packages {packages:?}: {err:#}"))
}

/// The interpreter of virtualenv `name` under the cache directory, with
/// `packages` installed unless they already are.
fn install_python(name: &str, packages: &[&str]) -> Result<PathBuf> {
    let venv = cache_dir().join(name);
    let python = venv.join("bin/python");
    let stamp = venv.join("installed.txt");
    let wanted = packages.join("\n");
    if std::fs::read_to_string(&stamp).is_ok_and(|s| s == wanted) {
        return Ok(python);
    }
    std::fs::create_dir_all(cache_dir())?;
    run(Command::new("python3").arg("-m").arg("venv").arg(&venv))
        .context("python3 -m venv (install python3-venv)")?;
    run(Command::new(&python)
        .args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
        ])
        .args(packages))
    .context("pip install")?;
    std::fs::write(&stamp, wanted)?;
    Ok(python)
}

/// The Flight SQL JDBC driver's jar, fetched into the local Maven
/// repository if it is not there.
pub async fn jdbc_driver() -> &'static Path {
    static JAR: OnceCell<PathBuf> = OnceCell::const_new();
    JAR.get_or_init(|| maven_jar(JDBC_DRIVER)).await
}

/// pgjdbc's jar, fetched into the local Maven repository if it is not
/// there.
pub async fn pg_jdbc_driver() -> &'static Path {
    static JAR: OnceCell<PathBuf> = OnceCell::const_new();
    JAR.get_or_init(|| maven_jar(PG_JDBC_DRIVER)).await
}

async fn maven_jar(coordinates: &'static str) -> PathBuf {
    tokio::task::spawn_blocking(move || fetch_jar(coordinates))
        .await
        .expect("the Maven task panicked")
        .unwrap_or_else(|err| panic!("cannot fetch {coordinates}: {err:#}"))
}

/// The jar of `group:artifact:version`, fetched with `mvn dependency:get`
/// into the local Maven repository unless it is there.
fn fetch_jar(coordinates: &str) -> Result<PathBuf> {
    let mut parts = coordinates.split(':');
    let (Some(group), Some(artifact), Some(version)) = (parts.next(), parts.next(), parts.next())
    else {
        bail!("bad coordinates {coordinates}");
    };
    let jar = PathBuf::from(std::env::var_os("HOME").unwrap_or_else(|| "/root".into()))
        .join(".m2/repository")
        .join(group.replace('.', "/"))
        .join(artifact)
        .join(version)
        .join(format!("{artifact}-{version}.jar"));
    if !jar.exists() {
        run(Command::new("mvn").args([
            "-q",
            "-B",
            "dependency:get",
            &format!("-Dartifact={coordinates}"),
            "-Dtransitive=false",
        ]))
        .context("mvn dependency:get")?;
    }
    if !jar.exists() {
        bail!("{} is missing after mvn dependency:get", jar.display());
    }
    Ok(jar)
}

fn run(command: &mut Command) -> Result<Output> {
    let output = command
        .output()
        .with_context(|| format!("cannot run {command:?}"))?;
    if !output.status.success() {
        bail!(
            "{command:?} failed: {}\n{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(output)
}

/// Runs a client program, returning its standard output; panics with both
/// outputs when it fails.
pub async fn run_program(program: &Path, args: &[String]) -> String {
    let output = tokio::process::Command::new(program)
        .args(args)
        .output()
        .await
        .unwrap_or_else(|err| panic!("cannot run {}: {err}", program.display()));
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "{} {args:?} failed\nstdout:\n{stdout}\nstderr:\n{}",
        program.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}
