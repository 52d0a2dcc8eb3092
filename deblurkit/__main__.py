"""``python -m deblurkit`` (also what ``torchrun -m deblurkit`` runs)."""

from deblurkit.cli import main

if __name__ == "__main__":
    main()
