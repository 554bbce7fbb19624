//! Compiles `budget/v1/*.proto` with protox (pure Rust), so a fresh machine builds
//! with cargo alone: no system `protoc` is needed.

use std::path::PathBuf;

use prost::Message;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let protos = ["budget/v1/budget.proto"];
    let out_dir = PathBuf::from(std::env::var("OUT_DIR")?);
    let descriptor_path = out_dir.join("budget_descriptor.bin");

    let fds = protox::compile(protos, ["."])?;
    std::fs::write(&descriptor_path, fds.encode_to_vec())?;
    write_method_names(&fds, &out_dir.join("budget_methods.rs"))?;

    tonic_prost_build::configure()
        .file_descriptor_set_path(&descriptor_path)
        .skip_protoc_run()
        .compile_protos(&protos, &["."])?;

    for proto in protos {
        println!("cargo:rerun-if-changed={proto}");
    }
    Ok(())
}

/// `BUDGET_SERVICE_METHODS`: every `budget.v1.BudgetService` method name, from the very
/// descriptor the code is generated from, so metric labels can be limited to them.
fn write_method_names(
    fds: &prost_types::FileDescriptorSet,
    path: &std::path::Path,
) -> Result<(), Box<dyn std::error::Error>> {
    let names: Vec<&str> = fds
        .file
        .iter()
        .filter(|file| file.package() == "budget.v1")
        .flat_map(|file| &file.service)
        .filter(|service| service.name() == "BudgetService")
        .flat_map(|service| &service.method)
        .map(|method| method.name())
        .collect();
    let list = |format_one: &dyn Fn(&str) -> String| -> String {
        names
            .iter()
            .map(|name| format!("    {:?},\n", format_one(name)))
            .collect()
    };
    let code = format!(
        "/// Every method of `budget.v1.BudgetService`, as named in its paths.\n\
         pub const BUDGET_SERVICE_METHODS: &[&str] = &[\n{}];\n\
         /// Every method of `budget.v1.BudgetService` as `budget.v1.BudgetService/Name`.\n\
         pub const BUDGET_SERVICE_PATHS: &[&str] = &[\n{}];\n",
        list(&|name| name.to_owned()),
        list(&|name| format!("budget.v1.BudgetService/{name}")),
    );
    std::fs::write(path, code)?;
    Ok(())
}
