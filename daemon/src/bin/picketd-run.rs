//! picketd-run: the run helper as a binary of its own (see `picketd::run::helper`).
//!
//! picketd can be its own helper (`/proc/self/exe --picketd-run-helper ...`), but every tool
//! run then pays for loading a 12 MB binary; this one holds only the helper, so a run of a
//! quick tool costs about what the tool does. picketd uses it when it sits beside picketd.
//! Must not do anything but the helper's job.

fn main() {
    picketd::run::helper::run_if_asked();
    eprintln!(
        "{}: started by picketd for each tool run; not meant to be run by hand",
        picketd::run::helper::NAME
    );
    std::process::exit(2);
}
