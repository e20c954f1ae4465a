#include "cli/cli.h"

int main(int argc, char** argv) { return blixard::cli::Main(argc, argv); }
