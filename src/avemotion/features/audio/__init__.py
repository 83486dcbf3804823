"""Audio features X^a: MFCC, openSMILE functionals/LLDs, SoundNet-8, and their splice."""
